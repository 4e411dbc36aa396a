"""Helpers for the rule tests (a plain module: conftest files are not importable by name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trailhound.rules.loader import bundled_sigma_dir
from trailhound.rules.model import Rule
from trailhound.rules.selftest import expand, fired_event_ids

SIGMA_DIR = bundled_sigma_dir()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def run_rule(rule: Rule, records: list[dict[str, Any]]) -> set[str]:
    """Event ids the rule fires on, for records given as compact CloudTrail dicts."""
    return fired_event_ids(rule, expand(records, "t"))
