"""`detect` on Spark: the same rules, the same SQL, the same alerts, several queries at once.

Each rule runs as in `rules/run.py` (whose `stored_alerts` builds every alert here too); the
alerts' event ids stay with the executors, written as Parquet (`spark/alert_ids.py`).
On Spark most of a small query's time is fixed cost (planning, code generation, scheduling a
job), not scanning, so independent rules are submitted from a few threads and Spark runs their
jobs side by side. The result is assembled in the ruleset's order and sorted like `detect`'s,
so it is identical to a sequential run.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from trailhound.rules.model import Alert, DetectResult, Rule, RuleSet
from trailhound.rules.run import alert_order, stored_alerts
from trailhound.rules.timerange import TimeRange
from trailhound.spark.alert_ids import ParquetIds

DEFAULT_WORKERS = 4
RULE_BITS = 32  # alert numbers of rule n: n << 32 + 1 ...


def detect(conn: Any, ruleset: RuleSet, *, since: datetime | None = None,
           until: datetime | None = None, workers: int = DEFAULT_WORKERS) -> DetectResult:
    """All enabled rules over the connection's `events` view, alerts in time order."""
    tr = TimeRange(since, until)
    ids = ParquetIds(conn.tmp_dir or Path(tempfile.gettempdir()))

    def one(n: int, rule: Rule) -> tuple[list[Alert], str | None, float]:
        t0 = time.perf_counter()
        # Rules run side by side: each numbers its alerts in a range of its own.
        try:
            return (stored_alerts(conn, rule, tr, ids, n << RULE_BITS, tag=f"_r{n:04d}"), None,
                    time.perf_counter() - t0)
        except duckdb.Error as e:  # SparkQueryError is one
            return [], f"query failed: {str(e).splitlines()[0]}", time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="trailhound-detect") as pool:
        results = list(pool.map(one, range(len(ruleset.enabled)), ruleset.enabled))
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
