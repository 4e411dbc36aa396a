"""`kind: sigma`: a Sigma detection; every matching event in the interval is evidence."""

from __future__ import annotations

from typing import Any

from trailhound.rules.kinds.common import HIT_SELECT, check, check_select
from trailhound.rules.timerange import TimeRange


def validate(spec: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    check(errors, isinstance(spec.get("detection"), dict), "detection: required mapping")
    if not errors:
        check_select(errors, spec, "detection")
    return errors


def hits_sql_for_where(where: str, tr: TimeRange) -> str:
    return (f"SELECT {HIT_SELECT}, NULL::TIMESTAMP AS grp, NULL::VARCHAR AS grp_entity FROM events "
            f"WHERE {tr.detect_where()} AND ({where})")


def hits_sql(rule: Any, tr: TimeRange, state: dict[str, str] | None = None) -> str:
    return hits_sql_for_where(rule.spec["_where"], tr)
