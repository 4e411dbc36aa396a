"""`kind: new_terms`: a value never seen before for an entity (first-seen).

    new_terms:
      select: {Sigma detection}        # which events count (history and detection alike)
      entity: key                      # key | principal | role
      value: th.source_net             # any Sigma field or derived th.* value
      lookback: 14d                    # history read before the interval
      min_history_events: 20           # the entity's events before the new value...
      min_history_days: 2              # ...spanning at least this long, so brand-new
                                       #    identities (everything is new) stay quiet
      evidence_window: 1h              # events with the new value kept as evidence
      concurrent_known: 6h             # optional: fire only if the entity also used an
                                       #    already-known value within +-6h (the stolen key's
                                       #    owner keeps working while the thief starts)

A value counts as new when its first occurrence since `since - lookback` falls inside the
interval: that is stricter than "not in the look-back window before each event" and needs one
pass instead of one per event.
"""

from __future__ import annotations

from typing import Any

from trailhound.errors import RuleError
from trailhound.rules.detection import detection_where
from trailhound.rules.durations import seconds
from trailhound.rules.kinds.common import (
    HIT_SELECT,
    check,
    check_duration,
    check_select,
    entity_sql,
    value_sql,
)
from trailhound.rules.timerange import TimeRange

DEFAULTS = {"entity": "key", "lookback": "14d", "min_history_events": 20,
            "min_history_days": 2, "evidence_window": "1h"}


def validate(spec: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    p = spec.get("new_terms")
    if not isinstance(p, dict):
        return ["new_terms: required mapping (select, entity, value, lookback, ...)"]
    check_select(errors, p)
    check(errors, isinstance(p.get("value"), str), "new_terms.value: required field name")
    try:
        entity_sql(p.get("entity", DEFAULTS["entity"]))
        if isinstance(p.get("value"), str):
            value_sql(p["value"])
    except RuleError as e:
        errors.append(f"new_terms: {e}")
    for k in ("lookback", "evidence_window"):
        check_duration(errors, p, k, required=False)
    check_duration(errors, p, "concurrent_known", required=False)
    for k in ("min_history_events", "min_history_days"):
        v = p.get(k, DEFAULTS[k])
        check(errors, isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              f"new_terms.{k}: expected a whole number >= 0")
    return errors


def hits_sql(rule: Any, tr: TimeRange) -> str:
    p = {**DEFAULTS, **rule.spec["new_terms"]}
    lookback = seconds(p["lookback"])
    evidence = seconds(p["evidence_window"])
    min_days = int(p["min_history_days"]) * 86400
    min_events = int(p["min_history_events"])
    select = detection_where(p.get("select"))
    conc = ""
    conc_join = ""
    if p.get("concurrent_known"):
        w = seconds(p["concurrent_known"])
        conc = f""", conc AS (
    SELECT DISTINCT f.entity, f.value FROM firsts f JOIN s ON s.entity = f.entity
     AND s.value <> f.value AND s.value_first < f.value_first
     AND s.event_time BETWEEN f.value_first - INTERVAL {w} SECOND
                          AND f.value_first + INTERVAL {w} SECOND)"""
        conc_join = "JOIN conc USING (entity, value)"
    return f"""WITH base AS (
    SELECT {HIT_SELECT}, {entity_sql(p["entity"])} AS entity, {value_sql(p["value"])} AS value
    FROM events WHERE {tr.where(lookback_seconds=lookback)} AND ({select})
), s AS (
    SELECT *,
        row_number() OVER (PARTITION BY entity ORDER BY event_time, event_id) - 1 AS n_before,
        min(event_time) OVER (PARTITION BY entity) AS entity_first,
        min(event_time) OVER (PARTITION BY entity, value) AS value_first
    FROM base WHERE entity IS NOT NULL AND value IS NOT NULL
), firsts AS (
    SELECT entity, value, value_first FROM s
    WHERE event_time = value_first AND {tr.detect_where()}
      AND n_before >= {min_events}
      AND value_first >= entity_first + INTERVAL {min_days} SECOND
    QUALIFY row_number() OVER (PARTITION BY entity, value ORDER BY event_id) = 1
){conc}
SELECT {", ".join("s." + c for c in HIT_SELECT.split(", "))},
       f.value_first AS grp, f.entity AS grp_entity
FROM s JOIN firsts f USING (entity, value) {conc_join}
WHERE s.event_time < f.value_first + INTERVAL {evidence} SECOND"""
