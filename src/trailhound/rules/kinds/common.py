"""What every kind's query returns, and the SQL shared between kinds."""

from __future__ import annotations

import re
from typing import Any

from trailhound.errors import RuleError
from trailhound.rules.detection import default_field_map, detection_where
from trailhound.rules.durations import seconds

# Every kind's query returns these columns: the evidence events, plus `grp`, a timestamp that
# keeps the events of one finding (one threshold window, one sequence) in one alert, and
# `grp_entity`, the entity the finding is about (a sequence's root key, even for the events of
# the key it created); NULL lets grouping bucket by time and entity.
HIT_COLUMNS = ("event_id", "event_time", "access_key_id", "principal_arn", "source_ip",
               "account", "session_issuer_arn")
HIT_SELECT = ", ".join(HIT_COLUMNS)

ENTITY: dict[str, str] = {
    "key": "coalesce(access_key_id, principal_arn)",
    "principal": "coalesce(principal_arn, access_key_id)",
    "role": "coalesce(session_issuer_arn, principal_arn, access_key_id)",
    # The role an AssumeRole call assumed (its session ARN without the session name).
    "assumed_role": ("regexp_extract(assumed_role_arn, "
                     "'^(arn:[a-z-]+:sts::[0-9]+:assumed-role/[^/]+)/', 1)"),
}


def entity_sql(name: str) -> str:
    try:
        return ENTITY[name]
    except KeyError:
        raise RuleError(f"entity must be one of {', '.join(ENTITY)}, got {name!r}") from None


def value_sql(field: str) -> str:
    """A Sigma field name or a derived `th.*` value as SQL text."""
    fm = default_field_map()
    sql = fm.sql(field)
    return sql if fm.is_text(field) else f"CAST({sql} AS VARCHAR)"


def check(errors: list[str], cond: bool, msg: str) -> None:
    if not cond:
        errors.append(msg)


def check_select(errors: list[str], spec: dict[str, Any], key: str = "select") -> None:
    try:
        detection_where(spec.get(key), what=key)
    except RuleError as e:
        errors.append(str(e))


def check_duration(errors: list[str], spec: dict[str, Any], key: str, *,
                   required: bool = True) -> None:
    if key not in spec:
        if required:
            errors.append(f"{key}: required")
        return
    try:
        seconds(spec[key], what=key)
    except RuleError as e:
        errors.append(str(e))


_COND_RE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<|==|!=)\s*([0-9]+(?:\.[0-9]+)?)\s*"
    r"(x\s*baseline)?\s*$")


def parse_condition(text: str) -> tuple[str, str, float, bool]:
    """`apis >= 15` or `objects > 10 x baseline` -> (metric, op, number, vs_baseline)."""
    m = _COND_RE.match(str(text))
    if not m:
        raise RuleError(f"condition {text!r}: expected `<metric> <op> <number> [x baseline]`")
    op = "=" if m.group(2) == "==" else m.group(2)
    return m.group(1), op, float(m.group(3)), bool(m.group(4))
