"""`detect`: run every enabled rule over the store and return grouped alerts.

Each rule is one query; a rule whose query fails at run time (a store without a column an
extra rule needs, say) is reported in `skipped` with the engine's reason and the others run on.
On DuckDB the alerts' event ids stay in the engine (`alert_ids`); `run_rule` and
`keyed_alerts` (self-tests, the watch's polls, Spark) return them as tuples.
"""

from __future__ import annotations

import time
from datetime import datetime

import duckdb

from trailhound.rules.alert_ids import StoredIds, new_ids_table
from trailhound.rules.compiler import (
    alert_ids_sql,
    alerts_sql,
    grouped_hits_sql,
    stored_alerts_sql,
)
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


def stored_alerts(conn: duckdb.DuckDBPyConnection, rule: Rule, tr: TimeRange, ids_table: str,
                  first_no: int) -> list[Alert]:
    """The rule's alerts, numbered from `first_no` + 1, their event ids inserted into
    `ids_table` (`alert_ids.new_ids_table`) rather than returned. The evidence is materialised
    once, then grouped and copied in the engine: running the rule query twice would double
    detection's cost."""
    try:
        conn.execute("CREATE OR REPLACE TEMP TABLE rule_hits AS " + grouped_hits_sql(rule, tr))
        conn.execute("CREATE OR REPLACE TEMP TABLE rule_alerts AS "
                     + stored_alerts_sql("rule_hits"), [first_no])
        conn.execute(f"""INSERT INTO {ids_table}
            SELECT a.alert_no, h.event_id FROM rule_hits h JOIN rule_alerts a
              ON h.entity IS NOT DISTINCT FROM a.entity
             AND h.bucket IS NOT DISTINCT FROM a.bucket""")
        rows = conn.execute("""
            SELECT alert_no, n, first_time, last_time, access_key_id, principal_arn,
                   source_ip, account
            FROM rule_alerts ORDER BY alert_no""").fetchall()
    except duckdb.Error:
        # The next rule numbers its alerts from the same `first_no`: leave none of ours.
        conn.execute(f"DELETE FROM {ids_table} WHERE alert_no > ?", [first_no])
        raise
    finally:
        conn.execute("DROP TABLE IF EXISTS rule_hits")
        conn.execute("DROP TABLE IF EXISTS rule_alerts")
    return [Alert(rule_id=rule.id, title=rule.title, severity=rule.severity, stage=rule.stage,
                  techniques=rule.techniques,
                  event_ids=StoredIds(conn, ids_table, int(no), int(n)), event_time=first,
                  last_event_time=last, access_key_id=key, principal_arn=arn, source_ip=ip,
                  account=account, count=int(n))
            for no, n, first, last, key, arn, ip, account in rows]


def alert_order(a: Alert) -> tuple:
    return (a.event_time, a.rule_id, a.access_key_id or "")


def detect(conn: duckdb.DuckDBPyConnection, ruleset: RuleSet, *,
           since: datetime | None = None, until: datetime | None = None) -> DetectResult:
    """All enabled rules over the connection's `events` view, alerts in time order."""
    tr = TimeRange(since, until)
    # DuckDB draws its own progress bar on stderr for long queries; the CLI has its own.
    conn.execute("SET enable_progress_bar = false")
    ids_table = new_ids_table(conn)
    alerts: list[Alert] = []
    skipped = list(ruleset.skipped)
    timings: dict[str, float] = {}
    for rule in ruleset.enabled:
        t0 = time.perf_counter()
        try:
            alerts.extend(stored_alerts(conn, rule, tr, ids_table, len(alerts)))
        except duckdb.Error as e:
            skipped.append((rule.id, f"query failed: {str(e).splitlines()[0]}"))
        timings[rule.id] = time.perf_counter() - t0
    alerts.sort(key=alert_order)
    return DetectResult(alerts=alerts, skipped=skipped, timings=timings)
