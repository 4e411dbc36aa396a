"""`detect` on Spark: the same rules, the same SQL, the same alerts, several queries at once.

Each rule is one query, as in `rules/run.py` (whose `run_rule` builds every alert here too).
On Spark most of a small query's time is fixed cost (planning, code generation, scheduling a
job), not scanning, so independent rules are submitted from a few threads and Spark runs their
jobs side by side. The result is assembled in the ruleset's order and sorted like `detect`'s,
so it is identical to a sequential run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import duckdb

from trailhound.rules.model import Alert, DetectResult, Rule, RuleSet
from trailhound.rules.run import alert_order, run_rule
from trailhound.rules.timerange import TimeRange

DEFAULT_WORKERS = 4


def detect(conn: Any, ruleset: RuleSet, *, since: datetime | None = None,
           until: datetime | None = None, workers: int = DEFAULT_WORKERS) -> DetectResult:
    """All enabled rules over the connection's `events` view, alerts in time order."""
    tr = TimeRange(since, until)

    def one(rule: Rule) -> tuple[list[Alert], str | None, float]:
        t0 = time.perf_counter()
        try:
            return run_rule(conn, rule, tr), None, time.perf_counter() - t0
        except duckdb.Error as e:  # SparkQueryError is one
            return [], f"query failed: {str(e).splitlines()[0]}", time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="trailhound-detect") as pool:
        results = list(pool.map(one, ruleset.enabled))
    alerts: list[Alert] = []
    skipped = list(ruleset.skipped)
    timings: dict[str, float] = {}
    for rule, (found, failed, seconds) in zip(ruleset.enabled, results, strict=True):
        alerts.extend(found)
        if failed is not None:
            skipped.append((rule.id, failed))
        timings[rule.id] = seconds
    alerts.sort(key=alert_order)
    return DetectResult(alerts=alerts, skipped=skipped, timings=timings)
