"""Stage and ATT&CK technique of an API call, from the policy's stage map, as one SQL CASE.

The taxonomy labels what the attacker's events did; attribution decides which events are the
attacker's. Keeping it as data (`policy.yml`, `stages`) means a responder can extend it
without touching code.
"""

from __future__ import annotations

from typing import Any

from trailhound.correlate.policy import STAGES, policy

__all__ = ["STAGES", "event_stage_sql", "stage_case_sql", "taxonomy", "technique_case_sql",
           "technique_of_stage_events"]


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def taxonomy() -> tuple[dict[str, Any], ...]:
    return policy().stages


def stage_case_sql(event_name: str = "event_name", read_only: str = "read_only") -> str:
    """`CASE ... END` giving the stage of a row; NULL when no entry matches."""
    return _case(event_name, read_only, "stage")


def technique_case_sql(event_name: str = "event_name", read_only: str = "read_only") -> str:
    return _case(event_name, read_only, "technique")


def _case(event_name: str, read_only: str, what: str) -> str:
    whens: list[str] = []
    for e in taxonomy():
        value = _lit(str(e[what]))
        if e.get("events"):
            names = ", ".join(_lit(n) for n in e["events"])
            whens.append(f"WHEN {event_name} IN ({names}) THEN {value}")
        for prefix in e.get("read_prefixes", []):
            whens.append(f"WHEN coalesce({read_only}, false) AND starts_with({event_name}, "
                         f"{_lit(prefix)}) THEN {value}")
    return "CASE " + " ".join(whens) + " END"


def technique_of_stage_events() -> dict[str, str]:
    """event name -> technique, for Python-side labelling of small sets."""
    out: dict[str, str] = {}
    for e in taxonomy():
        for n in e.get("events", []):
            out.setdefault(n, e["technique"])
    return out


def event_stage_sql() -> str:
    """The stage of an event in its context: a role assumed in another account is lateral
    movement, in the same account privilege escalation, a session token persistence;
    everything else comes from the stage map."""
    return f"""CASE
    WHEN event_name LIKE 'AssumeRole%' AND assumed_role_arn IS NOT NULL
         AND split_part(assumed_role_arn, ':', 5) <> coalesce(account_id, account)
        THEN 'lateral-movement'
    WHEN event_name LIKE 'AssumeRole%' THEN 'privilege-escalation'
    WHEN event_name IN ('GetSessionToken', 'GetFederationToken') THEN 'persistence'
    ELSE {stage_case_sql()} END"""
