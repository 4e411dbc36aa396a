"""`kind: new_terms`: a value never seen before for an entity (first-seen).

    new_terms:
      select: {Sigma detection}        # events whose value may be new
      history: {Sigma detection}       # optional: events that make up the entity's history
                                       #    (default: all its events)
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
pass instead of one per event. History is counted in whole hours before the new value.
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
from trailhound.rules.timerange import ALL_TIME, TimeRange

DEFAULTS = {"entity": "key", "lookback": "14d", "min_history_events": 20,
            "min_history_days": 2, "evidence_window": "1h"}


def validate(spec: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    p = spec.get("new_terms")
    if not isinstance(p, dict):
        return ["new_terms: required mapping (select, entity, value, lookback, ...)"]
    check_select(errors, p)
    if "history" in p:
        check_select(errors, p, "history")
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


# What the watch keeps between polls for a new_terms rule, and how a poll's share merges in:
# first occurrences merge by min, hourly counts by sum. Batch detection computes the same
# relations inline from `events`, so both paths run one definition.
SUMMARIES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "vf": (("entity", "value"), {"value_first": "min"}),
    "hourly": (("entity", "hour"), {"n": "sum"}),
}


def summary_sql(rule: Any, tr: TimeRange = ALL_TIME, relation: str = "events"
                ) -> dict[str, str]:
    """`vf`: first occurrence of every (entity, value); `hourly`: the entity's history events
    per hour (all its events unless `history` narrows them)."""
    p = {**DEFAULTS, **rule.spec["new_terms"]}
    lookback = seconds(p["lookback"])
    entity = entity_sql(p["entity"])
    where = tr.where(lookback_seconds=lookback)
    return {
        "vf": f"""SELECT entity, value, min(event_time) AS value_first FROM (
    SELECT {entity} AS entity, {value_sql(p["value"])} AS value, event_time FROM {relation}
    WHERE {where} AND ({detection_where(p.get("select"))}))
WHERE entity IS NOT NULL AND value IS NOT NULL GROUP BY entity, value""",
        "hourly": f"""SELECT {entity} AS entity, time_bucket(INTERVAL 1 HOUR, event_time) AS hour,
       count(*) AS n
FROM {relation} WHERE {where} AND ({detection_where(p.get("history"), what="history")})
  AND {entity} IS NOT NULL
GROUP BY ALL""",
    }


def horizon_seconds(rule: Any) -> tuple[int, int]:
    """(how far before a poll's first new event a finding can still change, how much event
    history before that the query reads): the evidence window, and the +-window of
    `concurrent_known`."""
    p = {**DEFAULTS, **rule.spec["new_terms"]}
    conc = seconds(p["concurrent_known"]) if p.get("concurrent_known") else 0
    return max(seconds(p["evidence_window"]), conc), conc


def hits_sql(rule: Any, tr: TimeRange, state: dict[str, str] | None = None) -> str:
    """Evidence events. `state` names tables holding `SUMMARIES` kept across polls (the
    watch); without it they are computed from `events` over the interval and its look-back."""
    p = {**DEFAULTS, **rule.spec["new_terms"]}
    lookback = seconds(p["lookback"])
    evidence = seconds(p["evidence_window"])
    min_days = int(p["min_history_days"]) * 86400
    min_events = int(p["min_history_events"])
    select = detection_where(p.get("select"))
    entity = entity_sql(p["entity"])
    conc = ""
    conc_join = ""
    if p.get("concurrent_known"):
        w = seconds(p["concurrent_known"])
        conc = f""", conc AS (
    SELECT DISTINCT f.entity, f.value FROM firsts f
    JOIN base b ON b.entity = f.entity AND b.value <> f.value
     AND b.event_time BETWEEN f.value_first - INTERVAL {w} SECOND
                          AND f.value_first + INTERVAL {w} SECOND
    JOIN vf k ON k.entity = b.entity AND k.value = b.value AND k.value_first < f.value_first)"""
        conc_join = "JOIN conc USING (entity, value)"
    if state is None:
        sums = summary_sql(rule, tr)
        vf_cte = f"vf AS (\n{sums['vf']}\n), "
        hourly_src = f"({sums['hourly']})"
        base_from = f"events WHERE {tr.where(lookback_seconds=lookback)}"
    else:
        vf_cte = f"vf AS (SELECT * FROM {state['vf']}), "
        hourly_src = state["hourly"]
        # Only the evidence is read from events: history lives in the summaries.
        _, w = horizon_seconds(rule)
        base_from = f"events WHERE {tr.where(lookback_seconds=w)}"
    # vf: first occurrence of every (entity, value); cand: those inside the interval. For
    # each candidate, the entity's history is what it did in the whole hours before the new
    # value, and it is known since its first hour (at least one hour of history is needed).
    return f"""WITH {vf_cte}base AS (
    SELECT {HIT_SELECT}, {entity} AS entity, {value_sql(p["value"])} AS value
    FROM {base_from} AND ({select})
), cand AS (
    SELECT * FROM vf WHERE {tr.detect_where("value_first")}
), firsts AS (
    SELECT c.entity, c.value, c.value_first FROM cand c JOIN {hourly_src} h
      ON h.entity = c.entity
    GROUP BY c.entity, c.value, c.value_first
    HAVING count(*) FILTER (WHERE h.hour + INTERVAL 1 HOUR <= c.value_first) > 0
       AND coalesce(sum(h.n) FILTER (WHERE h.hour + INTERVAL 1 HOUR <= c.value_first), 0)
           >= {min_events}
       AND min(h.hour) <= c.value_first - INTERVAL {min_days} SECOND
){conc}
SELECT {", ".join("b." + c for c in HIT_SELECT.split(", "))},
       f.value_first AS grp, f.entity AS grp_entity
FROM base b JOIN firsts f USING (entity, value) {conc_join}
WHERE b.event_time < f.value_first + INTERVAL {evidence} SECOND"""
