"""`kind: sequence`: ordered steps on one key lineage within a time window.

    sequence:
      within: 24h                  # from the first step to the last
      follow_created_keys: true    # a later step may be done by a key an earlier step created
                                   # (CreateAccessKey's created_access_key_id), so the
                                   # stolen key -> new key -> data read chain stays one finding
      steps:
        - name: validation
          select: {Sigma detection}
        - name: key for another user
          select: {Sigma detection}
          by: lineage              # lineage (default): the first step's key or any key
                                   # created so far; same: the first step's key only;
                                   # created: only a key created by an earlier step

Evaluation is greedy, which is exact for existence: from each first-step event, every next
step takes its earliest match after the previous step, on the root key or any key created so
far. Of the sequences ending at the same event only the one with the latest start is kept, so
a key that validates itself a hundred times yields one finding, not a hundred.
"""

from __future__ import annotations

from typing import Any

from trailhound.rules.detection import detection_where
from trailhound.rules.durations import seconds
from trailhound.rules.kinds.common import HIT_SELECT, check, check_duration, check_select
from trailhound.rules.timerange import TimeRange


def validate(spec: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    p = spec.get("sequence")
    if not isinstance(p, dict):
        return ["sequence: required mapping (within, steps)"]
    check_duration(errors, p, "within")
    steps = p.get("steps")
    if not isinstance(steps, list) or len(steps) < 2:
        return [*errors, "sequence.steps: required list of at least two steps"]
    for i, st in enumerate(steps, 1):
        if not isinstance(st, dict) or "select" not in st:
            errors.append(f"sequence.steps[{i}]: needs `select`")
            continue
        check(errors, isinstance(st.get("name", ""), str), f"sequence.steps[{i}].name: text")
        check(errors, st.get("by", "lineage") in ("lineage", "same", "created"),
              f"sequence.steps[{i}].by: lineage (default), same or created")
        check_select(errors, st)
    return errors


def hits_sql(rule: Any, tr: TimeRange, state: dict[str, str] | None = None) -> str:
    """Evidence events. A sequence keeps no summaries (`state` is unused): the watch gives
    it an `events` relation holding only the events that match one of its steps."""
    p = rule.spec["sequence"]
    within = seconds(p["within"])
    follow = bool(p.get("follow_created_keys", True))
    steps = p["steps"]
    n = len(steps)
    ctes = []
    for i, st in enumerate(steps, 1):
        ctes.append(
            f"st{i} AS (SELECT event_id, event_time, access_key_id AS k, "
            f"created_access_key_id AS c FROM events WHERE "
            f"{tr.where(lookback_seconds=within if i > 1 else 0)} "
            f"AND access_key_id IS NOT NULL AND ({detection_where(st['select'])}))")
    # c1: one row per first-step event. `created` holds the keys made so far in the chain
    # (list_distinct drops NULLs); which keys a step may use depends on its `by`.
    created1 = "list_distinct([c])" if follow else "[]::VARCHAR[]"
    ctes.append(f"c1 AS (SELECT event_id AS e1, event_time AS t1, k AS root, "
                f"{created1} AS created FROM st1)")
    for i in range(2, n + 1):
        by = steps[i - 1].get("by", "lineage")
        pool = {"same": "[p.root]", "created": "p.created",
                "lineage": "list_concat([p.root], p.created)"}[by]
        prev = ", ".join([f"p.e{j}" for j in range(1, i)] + [f"p.t{j}" for j in range(1, i)])
        # Ties in time are broken by event id: the same logs in any file order give the
        # same alert.
        new_created = ("list_distinct(list_concat(p.created, "
                       "[arg_min(s.c, (s.event_time, s.event_id))]))"
                       if follow else "p.created")
        ctes.append(
            f"u{i} AS (SELECT *, unnest({pool.replace('p.', '')}) AS jk FROM c{i - 1}), "
            f"c{i} AS (SELECT {prev}, p.root, {new_created} AS created, "
            f"arg_min(s.event_id, (s.event_time, s.event_id)) AS e{i}, "
            f"min(s.event_time) AS t{i} "
            f"FROM u{i} p JOIN st{i} s ON s.k = p.jk AND s.event_time > p.t{i - 1} "
            f"AND s.event_time <= p.t1 + INTERVAL {within} SECOND "
            f"GROUP BY {prev}, p.root, p.created)")
    ids = ", ".join(f"e{j}" for j in range(1, n + 1))
    ctes.append(
        f"best AS (SELECT * FROM c{n} WHERE {tr.detect_where(f't{n}')} "
        f"QUALIFY row_number() OVER (PARTITION BY e{n} ORDER BY t1 DESC, e1) = 1)")
    ctes.append(f"ev AS (SELECT DISTINCT root, t1, unnest([{ids}]) AS event_id FROM best)")
    return ("WITH " + ",\n".join(ctes) + "\n"
            f"SELECT {', '.join('e.' + c for c in HIT_SELECT.split(', '))}, "
            "ev.t1 AS grp, ev.root AS grp_entity "
            f"FROM ev JOIN events e ON e.event_id = ev.event_id AND "
            f"{tr.where('e.event_time', lookback_seconds=within)}")
