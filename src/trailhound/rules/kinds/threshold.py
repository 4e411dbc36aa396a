"""`kind: threshold`: counts or sums per entity per window, against a fixed bound or against
the entity's own history.

    threshold:
      select: {Sigma detection}          # events that count
      entity: key                        # key | principal | role
      window: 10m                        # tumbling windows
      metrics:                           # named aggregates over the window's events
        apis: {count_distinct: eventName}
        denials: {count_where: {errorCode|exists: true}}
        regions: {count_distinct: awsRegion}
        objects: {count_distinct: requestParameters.key}
        bytes: {sum: th.bytes_out}
        events: {count: true}
      when:                              # all must hold
        - apis >= 20
        - denials >= 5
        - bytes > 10 x baseline          # 10x the entity's median over its earlier windows
      baseline: {lookback: 14d, min_windows: 5, without_history: skip}
                                         # without_history: skip (default) leaves entities
                                         # with fewer than min_windows earlier windows alone;
                                         # fire judges them on the fixed bounds only (a key
                                         # created an hour ago has no normal to exceed)

Every `select` event of a window that meets `when` is evidence.
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
    parse_condition,
    value_sql,
)
from trailhound.rules.timerange import TimeRange, ts_sql

AGGS = ("count", "count_where", "count_distinct", "sum")


def validate(spec: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    p = spec.get("threshold")
    if not isinstance(p, dict):
        return ["threshold: required mapping (select, entity, window, metrics, when)"]
    check_select(errors, p)
    check_duration(errors, p, "window")
    try:
        entity_sql(p.get("entity", "key"))
    except RuleError as e:
        errors.append(f"threshold: {e}")
    metrics = p.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        errors.append("threshold.metrics: required mapping of name -> aggregate")
        metrics = {}
    for name, m in metrics.items():
        if not str(name).isidentifier() or not isinstance(m, dict) or len(m) != 1 \
                or next(iter(m)) not in AGGS:
            errors.append(f"threshold.metrics.{name}: expected one of {', '.join(AGGS)}")
            continue
        try:
            _metric_sql(name, m)
        except RuleError as e:
            errors.append(f"threshold.metrics.{name}: {e}")
    when = p.get("when")
    if not isinstance(when, list) or not when:
        errors.append("threshold.when: required list of conditions")
        when = []
    uses_baseline = False
    for c in when:
        try:
            metric, _, _, vs = parse_condition(c)
            uses_baseline |= vs
            check(errors, metric in metrics, f"threshold.when: unknown metric {metric!r}")
        except RuleError as e:
            errors.append(f"threshold.when: {e}")
    if uses_baseline:
        b = p.get("baseline")
        if not isinstance(b, dict):
            errors.append("threshold.baseline: required when a condition uses `x baseline`")
        else:
            check_duration(errors, b, "lookback")
            check(errors, b.get("without_history", "skip") in ("skip", "fire"),
                  "threshold.baseline.without_history: skip or fire")
    return errors


def _metric_sql(name: str, m: dict[str, Any]) -> tuple[str | None, str]:
    """(column computed per event or None, aggregate over the window)."""
    agg, arg = next(iter(m.items()))
    col = f"m_{name}"
    if agg == "count":
        return None, "count(*)"
    if agg == "count_where":
        return f"coalesce(({detection_where(arg, what=name)}), false) AS {col}", \
            f"count(*) FILTER (WHERE {col})"
    if not isinstance(arg, str):
        raise RuleError(f"{agg}: expected a field name")
    if agg == "count_distinct":
        return f"{value_sql(arg)} AS {col}", f"count(DISTINCT {col})"
    return f"TRY_CAST({value_sql(arg)} AS DOUBLE) AS {col}", f"coalesce(sum({col}), 0)"


def _overlaps(tr: TimeRange, window: int) -> str:
    """Windows that overlap the interval (the first may start before `since`)."""
    parts = []
    if tr.since is not None:
        parts.append(f"bucket + INTERVAL {window} SECOND > {ts_sql(tr.since)}")
    if tr.until is not None:
        parts.append(f"bucket < {ts_sql(tr.until)}")
    return " AND ".join(parts) or "true"


def window_seconds(rule: Any) -> int:
    return seconds(rule.spec["threshold"]["window"])


def uses_baseline(rule: Any) -> bool:
    return any(parse_condition(c)[3] for c in rule.spec["threshold"]["when"])


def _base_sql(rule: Any, where: str, relation: str = "events") -> str:
    p = rule.spec["threshold"]
    cols = [c for c in (_metric_sql(n, m)[0] for n, m in p["metrics"].items()) if c]
    extra = "".join(", " + c for c in cols)
    return f"""SELECT {HIT_SELECT}, {entity_sql(p.get("entity", "key"))} AS entity,
           time_bucket(INTERVAL {window_seconds(rule)} SECOND, event_time) AS bucket{extra}
    FROM {relation} WHERE {where} AND ({detection_where(p.get("select"))})"""


def agg_sql(rule: Any, where: str, relation: str = "events") -> str:
    """Each (entity, window)'s metrics over the `select` events matching `where`: what the
    watch keeps between polls for a baseline rule, recomputing only the windows a poll
    touches (distinct counts do not add up across polls)."""
    aggs = ", ".join(f"{_metric_sql(n, m)[1]} AS {n}"
                     for n, m in rule.spec["threshold"]["metrics"].items())
    return (f"SELECT entity, bucket, {aggs} FROM ({_base_sql(rule, where, relation)}) "
            "WHERE entity IS NOT NULL GROUP BY ALL")


def hits_sql(rule: Any, tr: TimeRange, state: dict[str, str] | None = None) -> str:
    """Evidence events. With `state` (the watch), `state['agg']` holds every window's
    metrics, so the baseline is read from there and only the interval's events are scanned."""
    p = rule.spec["threshold"]
    window = window_seconds(rule)
    conds = [parse_condition(c) for c in p["when"]]
    baseline = any(c[3] for c in conds)
    b = p.get("baseline") or {}
    lookback = seconds(b["lookback"]) if baseline else 0
    min_windows = int(b.get("min_windows", 5))
    fire_new = b.get("without_history", "skip") == "fire"
    if state is not None and baseline:
        base_where = tr.where()
        since = tr.since
        recent = (f" WHERE bucket >= {ts_sql(since)} - INTERVAL {lookback + window} SECOND"
                  if since is not None else "")
        agg_cte = (f"agg AS (SELECT a.* FROM {state['agg']} a{recent}"
                   f"{' AND' if recent else ' WHERE'} a.entity IN (SELECT entity FROM base))")
    else:
        base_where = tr.where(lookback_seconds=lookback)
        aggs = ", ".join(f"{_metric_sql(n, m)[1]} AS {n}" for n, m in p["metrics"].items())
        agg_cte = (f"agg AS (SELECT entity, bucket, {aggs} FROM base "
                   "WHERE entity IS NOT NULL GROUP BY ALL)")
    if baseline:
        frame = (f"OVER (PARTITION BY entity ORDER BY bucket RANGE BETWEEN "
                 f"INTERVAL {lookback} SECOND PRECEDING AND INTERVAL 1 SECOND PRECEDING)")
        hist = ", ".join(f"median({n}) {frame} AS b_{n}" for n in p["metrics"])
        bl = f", bl AS (SELECT *, {hist}, count(*) {frame} AS n_hist FROM agg)"
        src = "bl"
    else:
        bl, src = "", "agg"
    preds = []
    for metric, op, num, vs in conds:
        if vs:
            judged = (f"(b_{metric} IS NOT NULL AND n_hist >= {min_windows} "
                      f"AND {metric} {op} {num!r} * b_{metric})")
            preds.append(f"{judged} OR coalesce(n_hist, 0) < {min_windows}" if fire_new
                         else judged)
        else:
            preds.append(f"{metric} {op} {num!r}")
    return f"""WITH base AS (
    {_base_sql(rule, base_where)}
), {agg_cte}{bl}, hot AS (
    SELECT entity, bucket FROM {src}
    WHERE {_overlaps(tr, window)}
      AND {" AND ".join("(" + x + ")" for x in preds)}
)
SELECT {", ".join("base." + c for c in HIT_SELECT.split(", "))},
       hot.bucket AS grp, hot.entity AS grp_entity
FROM base JOIN hot USING (entity, bucket)"""
