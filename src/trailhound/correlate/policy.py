"""`policy.yml` as one frozen value: what correlation weighs, and how much.

Correlation's decisions are data a responder can read and tune (each value in the file says
why it is what it is); the code only reads them from here. Loading checks every key, so a typo
in a tuned copy fails at start with the file and the key, not as a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from trailhound.errors import CorrelateError

STAGES: tuple[str, ...] = (
    "credential-validation", "discovery", "persistence", "privilege-escalation",
    "lateral-movement", "collection", "exfiltration", "defense-evasion", "impact",
)
CONTROL_STAGES = frozenset({"persistence", "privilege-escalation", "lateral-movement",
                            "defense-evasion", "impact"})
DATA_STAGES = frozenset({"collection", "exfiltration"})
# What only an attacker needs to do with a credential, as opposed to look around with it.
STRONG_STAGES = CONTROL_STAGES | DATA_STAGES
SEVERITIES = ("low", "medium", "high", "critical")
WEIGHTS = ("network_new_to_owner", "network_new_to_org", "client_new_to_owner",
           "strong_apis_new", "rule_medium", "rule_high", "pivot", "audit_tool", "foreign_mint")
_SEVERITY_TERMS = frozenset({"control", "data", "stages", "exfiltration", "validator"})


@dataclass(frozen=True)
class Policy:
    established_min_days: int
    established_min_age_hours: float
    prior_min_events: int
    prior_min_hours: float
    baseline_min_hours: float
    thin_history_days: float
    suggested_history_days: int
    org_known_min_owners: int
    org_known_min_days: int
    threshold: int
    weights: dict[str, int]
    rule_medium_cap: int
    offensive_tools: frozenset[str]
    audit_tools: frozenset[str]
    ci_envs: tuple[str, ...]
    ci_min_events: int
    ci_min_days: int
    max_depth: int
    rotation_window_days: float
    console_session_hours: float
    validation_only_max_events: int
    severity: tuple[tuple[str, tuple[dict[str, int], ...]], ...]
    stages: tuple[dict[str, Any], ...]

    @property
    def tools(self) -> frozenset[str]:
        return self.offensive_tools | self.audit_tools

    def severity_of(self, stages: set[str], *, validator: bool) -> str:
        """The first severity whose row the stages meet (see `severity` in policy.yml)."""
        have = {"control": len(stages & CONTROL_STAGES), "data": len(stages & DATA_STAGES),
                "stages": len(stages), "exfiltration": int("exfiltration" in stages),
                "validator": int(validator)}
        for level, rows in self.severity:
            if any(all(have[k] >= v for k, v in row.items()) for row in rows):
                return level
        return "low"

    @classmethod
    def from_yaml(cls, text: str, *, location: str = "policy.yml") -> Policy:
        try:
            d = yaml.safe_load(text)
            return cls._from_dict(d)
        except (KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError) as e:
            raise CorrelateError(f"invalid correlation policy: {e}", location=location) from e

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Policy:
        h, org, sc, tools, ci, lin = (d["history"], d["org"], d["scores"], d["tools"], d["ci"],
                                      d["lineage"])
        weights = {k: int(v) for k, v in sc["weights"].items()}
        if set(weights) != set(WEIGHTS):
            raise ValueError(f"scores.weights: expected exactly {', '.join(WEIGHTS)}")
        severity = []
        for level in ("critical", "high", "medium"):
            rows = tuple(dict(r) for r in d["severity"][level])
            for r in rows:
                if not r or set(r) - _SEVERITY_TERMS:
                    raise ValueError(f"severity.{level}: terms are {sorted(_SEVERITY_TERMS)}")
            severity.append((level, rows))
        stages = tuple(d["stages"])
        for e in stages:
            if e.get("stage") not in STAGES:
                raise ValueError(f"stages: unknown stage {e.get('stage')!r}")
        return cls(
            established_min_days=int(h["established_min_days"]),
            established_min_age_hours=float(h["established_min_age_hours"]),
            prior_min_events=int(h["prior_min_events"]),
            prior_min_hours=float(h["prior_min_hours"]),
            baseline_min_hours=float(h["baseline_min_hours"]),
            thin_history_days=float(h["thin_history_days"]),
            suggested_history_days=int(h["suggested_history_days"]),
            org_known_min_owners=int(org["known_min_owners"]),
            org_known_min_days=int(org["known_min_days"]),
            threshold=int(sc["threshold"]), weights=weights,
            rule_medium_cap=int(sc["rule_medium_cap"]),
            offensive_tools=frozenset(str(t).lower() for t in tools["offensive"]),
            audit_tools=frozenset(str(t).lower() for t in tools["audit"]),
            ci_envs=tuple(str(e) for e in d["ci_envs"]),
            ci_min_events=int(ci["min_events"]), ci_min_days=int(ci["min_days"]),
            max_depth=int(lin["max_depth"]),
            rotation_window_days=float(lin["rotation_window_days"]),
            console_session_hours=float(lin["console_session_hours"]),
            validation_only_max_events=int(d["validation_only_max_events"]),
            severity=tuple(severity), stages=stages,
        )


@lru_cache(maxsize=1)
def policy() -> Policy:
    """The shipped policy (read once per process)."""
    text = resources.files("trailhound.correlate").joinpath("policy.yml").read_text("utf-8")
    return Policy.from_yaml(text)
