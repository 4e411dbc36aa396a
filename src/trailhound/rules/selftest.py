"""Run a rule on its own test events (`rules test`, and the parametrised test suite).

Test events are compact CloudTrail records, normalised through the same SQL as ingest
(`normalize.records_relation`) into an in-memory `events` table, so a rule is tested against
exactly what it will see in a store. Missing `eventID`s are filled in; `eventTime` defaults to
one minute apart from 2026-03-19T08:00:00Z. A record `{_repeat: N, _every: 2h, record: {...}}`
stands for N copies spaced `_every` apart, so a first-seen rule can have a history without a
hundred lines of YAML; `_vary: [requestParameters.key]` appends `-<n>` to those fields of each
copy (distinct objects, say).

Sigma rules check each event (every positive fires, no negative fires); aggregate
kinds (new_terms, threshold, sequence) take the positive list as one scenario that must raise at
least one alert, and the negative list as one scenario that must raise none.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from trailhound.errors import RuleError
from trailhound.normalize import records_relation
from trailhound.rules.durations import seconds
from trailhound.rules.model import Rule
from trailhound.rules.run import run_rule
from trailhound.rules.timerange import ALL_TIME
from trailhound.store.engine import new_connection

BASE_TIME = datetime(2026, 3, 19, 8, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(records: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Fill ids and times, expand `_repeat` blocks."""
    out: list[dict[str, Any]] = []
    clock = BASE_TIME
    for r in records:
        if "_repeat" in r:
            n, every = int(r["_repeat"]), seconds(r.get("_every", "1h"))
            start = r["record"].get("eventTime")
            t0 = (datetime.fromisoformat(start.replace("Z", "+00:00")) if start else clock)
            for k in range(n):
                rec = copy.deepcopy(r["record"])
                rec["eventTime"] = _iso(t0 + timedelta(seconds=every * k))
                rec["eventID"] = (f"{rec['eventID']}-{k}" if "eventID" in rec
                                  else f"{prefix}-{len(out)}")
                for path in r.get("_vary") or []:
                    _suffix(rec, str(path).split("."), f"-{k}")
                out.append(rec)
            clock = t0 + timedelta(seconds=every * n)
            continue
        rec = copy.deepcopy(r)
        rec.setdefault("eventID", f"{prefix}-{len(out)}")
        if "eventTime" not in rec:
            rec["eventTime"] = _iso(clock)
            clock += timedelta(minutes=1)
        out.append(rec)
    return out


def _suffix(rec: dict[str, Any], path: list[str], suffix: str) -> None:
    node: Any = rec
    for p in path[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
        node[path[-1]] += suffix


def events_connection(records: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose `events` table holds the normalised records."""
    conn = new_connection(memory_limit="256MB", threads=1)
    rel = records_relation(conn, records)
    rel.filter("reject IS NULL").project("* EXCLUDE (f, i, reject)").create("events")
    n_bad = conn.execute("SELECT count(*) FROM events").fetchone()
    if n_bad is None or n_bad[0] != len(records):
        raise RuleError("a test record was refused by normalisation (eventID/eventTime?)")
    return conn


def fired_event_ids(rule: Rule, records: list[dict[str, Any]]) -> set[str]:
    conn = events_connection(records)
    try:
        alerts = run_rule(conn, rule, ALL_TIME)
    finally:
        conn.close()
    return {eid for a in alerts for eid in a.event_ids}


@dataclass
class TestOutcome:
    rule_id: str
    ok: bool
    failures: list[str] = field(default_factory=list)
    positives: int = 0
    negatives: int = 0


def run_rule_tests(rule: Rule) -> TestOutcome:
    pos = expand(list(rule.positive), f"{rule.id}-pos")
    neg = expand(list(rule.negative), f"{rule.id}-neg")
    out = TestOutcome(rule.id, True, positives=len(pos), negatives=len(neg))
    if not pos or not neg:
        out.failures.append("needs at least one positive and one negative event")
    try:
        if rule.kind == "sigma":
            # A Sigma rule judges each event on its own, so one run over all test events
            # tells which of them fire, exactly as one run per event would.
            fired = fired_event_ids(rule, pos + neg)
            out.failures += [f"positive {r['eventID']} did not fire" for r in pos
                             if r["eventID"] not in fired]
            out.failures += [f"negative {r['eventID']} fired" for r in neg
                             if r["eventID"] in fired]
        else:
            if pos and not fired_event_ids(rule, pos):
                out.failures.append("positive scenario raised no alert")
            if neg and (hit := fired_event_ids(rule, neg)):
                out.failures.append(f"negative scenario fired on {sorted(hit)[:5]}")
    except (duckdb.Error, RuleError) as e:
        out.failures.append(f"error: {str(e).splitlines()[0]}")
    out.ok = not out.failures
    return out
