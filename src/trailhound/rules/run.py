"""`detect`: run every enabled rule over the store and return grouped alerts.

Each rule is one query; a rule whose query fails at run time (a store without a column an
extra rule needs, say) is reported in `skipped` with the engine's reason and the others run on.
"""

from __future__ import annotations

import time
from datetime import datetime

import duckdb

from trailhound.rules.compiler import alert_ids_sql, alerts_sql
from trailhound.rules.model import Alert, DetectResult, Rule, RuleSet
from trailhound.rules.timerange import TimeRange


def run_rule(conn: duckdb.DuckDBPyConnection, rule: Rule, tr: TimeRange) -> list[Alert]:
    return [a for _key, a in keyed_alerts(conn, rule, tr)]


def keyed_alerts(conn: duckdb.DuckDBPyConnection, rule: Rule, tr: TimeRange,
                 state: dict[str, str] | None = None
                 ) -> list[tuple[tuple[str, datetime], Alert]]:
    """The rule's alerts, each with its (entity, bucket): the identity of an alert across
    runs, which the watch uses to replace the alerts a poll recomputes."""
    rows = conn.execute(alerts_sql(rule, tr, state)).fetchall()
    alerts = []
    for (entity, bucket, n, first, last, joined, odd, key, arn, ip, account) in rows:
        if odd:
            got = conn.execute(alert_ids_sql(rule, tr, state), [entity, bucket]).fetchone()
            ids = list(got[0]) if got else []
        else:
            ids = joined.split("\x1f")
        # Sorted so the output is the same run after run (DuckDB's parallel aggregation has
        # no order of its own); sorting here is cheaper than ORDER BY inside the aggregate.
        ids.sort()
        alerts.append(((entity, bucket), Alert(
            rule_id=rule.id, title=rule.title, severity=rule.severity, stage=rule.stage,
            techniques=rule.techniques, event_ids=tuple(ids), event_time=first,
            last_event_time=last, access_key_id=key, principal_arn=arn, source_ip=ip,
            account=account, count=int(n),
        )))
    return alerts


def alert_order(a: Alert) -> tuple:
    return (a.event_time, a.rule_id, a.access_key_id or "")


def detect(conn: duckdb.DuckDBPyConnection, ruleset: RuleSet, *,
           since: datetime | None = None, until: datetime | None = None) -> DetectResult:
    """All enabled rules over the connection's `events` view, alerts in time order."""
    tr = TimeRange(since, until)
    # DuckDB draws its own progress bar on stderr for long queries; the CLI has its own.
    conn.execute("SET enable_progress_bar = false")
    alerts: list[Alert] = []
    skipped = list(ruleset.skipped)
    timings: dict[str, float] = {}
    for rule in ruleset.enabled:
        t0 = time.perf_counter()
        try:
            alerts.extend(run_rule(conn, rule, tr))
        except duckdb.Error as e:
            skipped.append((rule.id, f"query failed: {str(e).splitlines()[0]}"))
        timings[rule.id] = time.perf_counter() - t0
    alerts.sort(key=alert_order)
    return DetectResult(alerts=alerts, skipped=skipped, timings=timings)
