"""The checks, one module per family; `run_checks` runs them all on one pipeline.

Registered by name so a caller can select a subset, and so the docs and SARIF rules list
stay in step with what actually runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from trailhound.cicd.checks import (
    credentials,
    egress,
    injection,
    knownbad,
    permissions,
    pinning,
    tools,
    triggers,
)
from trailhound.cicd.checks.rules import RULES, Rule
from trailhound.cicd.known_bad import KnownBad
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import Pipeline

CheckFn = Callable[[Pipeline, KnownBad | None], Iterable[Finding]]

CHECKS: dict[str, CheckFn] = {
    "pinning": pinning.check,
    "tools": tools.check,
    "credentials": credentials.check,
    "permissions": permissions.check,
    "triggers": triggers.check,
    "injection": injection.check,
    "egress": egress.check,
    "known-bad": knownbad.check,
}


def run_checks(p: Pipeline, kb: KnownBad | None = None) -> Iterator[Finding]:
    """Every finding for one pipeline, each (rule, line, job) reported once."""
    seen: set[tuple[str, int, str | None, str]] = set()
    for fn in CHECKS.values():
        for f in fn(p, kb):
            key = (f.rule_id, f.line, f.job, f.message if f.rule_id == "known-bad-version"
                   else "")
            if key in seen:
                continue
            seen.add(key)
            yield f


__all__ = ["CHECKS", "RULES", "Rule", "run_checks"]
