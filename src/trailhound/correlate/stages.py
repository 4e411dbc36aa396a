"""Stage and ATT&CK technique of an API call, from `data/stages.yml`, as one SQL CASE.

The taxonomy labels what the attacker's events did; attribution decides which events are the
attacker's. Keeping it as data means a responder can extend it without touching code.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from trailhound.errors import CorrelateError

STAGES: tuple[str, ...] = (
    "credential-validation", "discovery", "persistence", "privilege-escalation",
    "lateral-movement", "collection", "exfiltration", "defense-evasion", "impact",
)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@lru_cache(maxsize=1)
def taxonomy() -> tuple[dict[str, Any], ...]:
    text = resources.files("trailhound.correlate").joinpath("data/stages.yml").read_text()
    entries = yaml.safe_load(text)
    for e in entries:
        if e.get("stage") not in STAGES:
            raise CorrelateError(f"unknown stage {e.get('stage')!r}", location="stages.yml")
    return tuple(entries)


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
