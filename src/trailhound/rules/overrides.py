"""Tuning by data: disable a rule, change its level, regroup it, or filter out known-good events.

    rules:
      aws_sts_assumerole_misuse:        # a rule id (own rules) or file name (Sigma rules)
        disable: true
      aws_enum_buckets:
        level: informational
        group_by: principal             # key | principal | role
        window: 1d                      # alert grouping window
        filters:                        # Sigma selections; an event matching any is dropped
          - userIdentity.arn|endswith: ':role/inventory-scanner'
          - sourceIPAddress|cidr: 10.20.0.0/16
            userAgent|contains: 'aws-config'

trailhound ships `mappings/sigmahq-tuning.yml`, applied whenever the SigmaHQ rules are loaded;
a user's file is applied after it and wins rule by rule.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trailhound.errors import RuleError
from trailhound.rules.detection import detection_where
from trailhound.rules.durations import seconds
from trailhound.rules.model import GROUP_BY, LEVELS, Rule

_KEYS = {"disable", "level", "group_by", "window", "filters"}


def _parse(text: str, location: str) -> dict[str, dict[str, Any]]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise RuleError(f"overrides are not YAML: {e}", location=location) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules", {}), dict):
        raise RuleError("overrides: expected `rules:` mapping rule id -> settings",
                        location=location)
    out: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for rid, s in (doc.get("rules") or {}).items():
        if not isinstance(s, dict):
            errors.append(f"{rid}: expected a mapping")
            continue
        bad = set(s) - _KEYS
        if bad:
            errors.append(f"{rid}: unknown keys {', '.join(sorted(bad))}")
        if "level" in s and s["level"] not in LEVELS:
            errors.append(f"{rid}.level: one of {', '.join(LEVELS)}")
        if "group_by" in s and s["group_by"] not in GROUP_BY:
            errors.append(f"{rid}.group_by: one of {', '.join(GROUP_BY)}")
        if "window" in s:
            try:
                seconds(s["window"], what="window")
            except RuleError as e:
                errors.append(f"{rid}.{e.message}")
        filters = s.get("filters") or []
        if not isinstance(filters, list):
            errors.append(f"{rid}.filters: list of Sigma selections")
            filters = []
        compiled = []
        for i, f in enumerate(filters, 1):
            try:
                compiled.append(detection_where(f, what=f"{rid}.filters[{i}]"))
            except RuleError as e:
                errors.append(e.message)
        out[str(rid)] = {**s, "_filters": compiled}
    if errors:
        raise RuleError("; ".join(errors), location=location)
    return out


def read_overrides(path: Path) -> dict[str, dict[str, Any]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise RuleError(f"cannot read overrides: {e.strerror}", location=str(path)) from None
    return _parse(text, str(path))


def default_tuning() -> dict[str, dict[str, Any]]:
    text = resources.files("trailhound.rules").joinpath(
        "mappings/sigmahq-tuning.yml").read_text(encoding="utf-8")
    return _parse(text, "mappings/sigmahq-tuning.yml")


def apply_overrides(rules: list[Rule], tuning: dict[str, dict[str, Any]]
                    ) -> tuple[list[Rule], list[tuple[str, str]]]:
    """Rules with their settings applied; notes for override entries that match no rule."""
    by_id = {r.id: r for r in rules}
    notes = [(f"overrides:{rid}", "no loaded rule has this id") for rid in tuning
             if rid not in by_id]
    out = []
    for r in rules:
        s = tuning.get(r.id)
        if not s:
            out.append(r)
            continue
        changes: dict[str, Any] = {}
        if s.get("disable"):
            changes["enabled"] = False
        if "level" in s:
            changes["level"] = s["level"]
        if "group_by" in s:
            changes["group_by"] = s["group_by"]
        if "window" in s:
            changes["window_seconds"] = seconds(s["window"])
        if s.get("_filters"):
            changes["filters"] = tuple(s["_filters"])
        out.append(replace(r, **changes))
    return out, notes
