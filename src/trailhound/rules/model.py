"""The rule and alert records every part of detection passes around.

A `Rule` is what the loader makes of one YAML file, whatever its kind; the compiler turns it
into one SQL query and `run.detect` turns the query's rows into `Alert`s. Both are frozen so a
loaded rule set can be shared between threads and cached without surprises.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from trailhound.rules.alert_ids import CHUNK, StoredIds, id_chunks

KINDS: tuple[str, ...] = ("sigma", "new_terms", "threshold", "sequence")

# Sigma's five levels; `informational` is reported as `low` (CONTRACT.md has four severities).
LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
SEVERITY_OF_LEVEL: dict[str, str] = {
    "informational": "low", "low": "low", "medium": "medium", "high": "high",
    "critical": "critical",
}

STAGES: tuple[str, ...] = (
    "credential-validation", "discovery", "persistence", "privilege-escalation",
    "lateral-movement", "collection", "exfiltration", "defense-evasion", "impact",
)

# When a Sigma rule names no stage, its ATT&CK tactic tag gives one. Tactics that have no stage
# of their own in the reference chain map to the nearest one a responder would look for.
STAGE_OF_TACTIC: dict[str, str] = {
    "credential-access": "credential-validation",
    "initial-access": "credential-validation",
    "discovery": "discovery",
    "persistence": "persistence",
    "privilege-escalation": "privilege-escalation",
    "lateral-movement": "lateral-movement",
    "collection": "collection",
    "exfiltration": "exfiltration",
    "defense-evasion": "defense-evasion",
    "impact": "impact",
}

STATUSES: tuple[str, ...] = ("stable", "test", "experimental", "deprecated", "unsupported")

# Entities an alert can be grouped by: the access key (falling back to the principal when an
# event has no key, as console logins do), the principal, or the role behind a session (so a
# rule matching every assumed-role call gives one alert per role, not one per session).
GROUP_BY: tuple[str, ...] = ("key", "principal", "role")

DEFAULT_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Rule:
    """One detection rule, whatever its kind.

    `spec` holds the kind's own parameters exactly as written in the YAML (for own kinds) and
    `sigma` the parsed pySigma rule (for Sigma rules); the compiler reads them.
    """

    id: str
    title: str
    kind: str
    level: str
    status: str
    stage: str | None
    techniques: tuple[str, ...]
    tags: tuple[str, ...]
    description: str = ""
    fields: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    path: Path | None = None
    origin: str = "builtin"  # builtin | sigmahq | extra
    # The rule's `author` field. SigmaHQ's rules are under the DRL 1.1, which asks that every
    # message based on a match keeps it: alerts carry it.
    author: str = ""
    spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    sigma: Any = field(default=None, compare=False, hash=False, repr=False)
    positive: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    negative: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    group_by: str = "key"
    filters: tuple[Any, ...] = field(default=(), compare=False, hash=False)
    enabled: bool = True

    @property
    def severity(self) -> str:
        return SEVERITY_OF_LEVEL[self.level]


@dataclass(frozen=True)
class Alert:
    """Matches of one rule on one entity in one time window (CONTRACT.md, alerts.ndjson).

    `event_ids` is a tuple, or on DuckDB a `StoredIds` reading them from the engine (see
    `alert_ids`): write alerts out with `json_pieces`, which never holds them all."""

    rule_id: str
    title: str
    severity: str
    stage: str | None
    techniques: tuple[str, ...]
    event_ids: Sequence[str]
    event_time: datetime
    last_event_time: datetime
    access_key_id: str | None
    principal_arn: str | None
    source_ip: str | None
    account: str | None
    count: int
    incident_id: str | None = None
    author: str = ""  # the rule's author (DRL 1.1 attribution for SigmaHQ rules)

    def to_dict(self, *, with_ids: bool = True) -> dict[str, Any]:
        """`with_ids=False`: `event_ids` is left empty (see `json_pieces`)."""
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity,
            "stage": self.stage,
            "techniques": list(self.techniques),
            "event_ids": list(self.event_ids) if with_ids else [],
            "event_time": _iso(self.event_time),
            "last_event_time": _iso(self.last_event_time),
            "access_key_id": self.access_key_id,
            "principal_arn": self.principal_arn,
            "source_ip": self.source_ip,
            "account": self.account,
            "count": self.count,
            "incident_id": self.incident_id,
            "author": self.author,
        }

    def json_pieces(self, *, chunk: int = CHUNK, **fields: Any) -> Iterator[bytes]:
        """The alert as one line of JSON (no newline), in pieces of at most `chunk` ids, so
        an alert with a million events is never one million Python strings at once.
        `fields` replace keys of `to_dict` (the hunt sets `incident_id`)."""
        d = self.to_dict(with_ids=False)
        d.update(fields)
        # Unique: inside a JSON string every quote is escaped, so this is the key itself.
        head, tail = orjson.dumps(d).split(b'"event_ids":[]', 1)
        yield head + b'"event_ids":['
        sep = b""
        for ids in id_chunks(self.event_ids, chunk):
            if ids:
                yield sep + orjson.dumps(list(ids))[1:-1]
                sep = b","
        yield b"]" + tail


def _iso(t: datetime) -> str:
    """Naive UTC timestamps (the store's) as ISO-8601 with a Z."""
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class RuleSet:
    """The loaded rules plus every rule file that was skipped, with the reason.

    Skipped rules are part of the result, never just a count (Chainsaw issue #135: in
    forensics a silently skipped rule is missed evidence)."""

    rules: tuple[Rule, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)


@dataclass
class DetectResult:
    alerts: list[Alert]
    skipped: list[tuple[str, str]]
    timings: dict[str, float]

    def release(self) -> None:
        """Let the engine drop the alerts' stored event ids (Spark's are files under the
        store's tmp/). Their `event_ids` cannot be read afterwards."""
        tables = {id(a.event_ids.table): a.event_ids.table for a in self.alerts
                  if isinstance(a.event_ids, StoredIds)}
        for t in tables.values():
            t.close()
