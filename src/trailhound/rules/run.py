"""`detect`: run every enabled rule over the store and return grouped alerts.

Each rule is one query; a rule whose query fails at run time (a store without a column an
extra rule needs, say) is reported in `skipped` with the engine's reason and the others run on.
The alerts' event ids stay in the engine (`alert_ids`; Spark's detect uses `stored_alerts` too);
`run_rule` and `keyed_alerts` (self-tests, the watch's polls) return them as tuples.
"""

from __future__ import annotations

import time
from datetime import datetime

import duckdb

from trailhound.rules.alert_ids import DuckDBIds, IdsTable, StoredIds
from trailhound.rules.compiler import (
    alert_ids_rows_sql,
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
            account=account, count=int(n), author=rule.author,
        )))
    return alerts


def stored_alerts(conn: duckdb.DuckDBPyConnection, rule: Rule, tr: TimeRange, ids: IdsTable,
                  first_no: int, *, tag: str = "") -> list[Alert]:
    """The rule's alerts, numbered from `first_no` + 1, their event ids stored in `ids`
    rather than returned. The evidence is materialised once, then grouped and copied in the
    engine: running the rule query twice would double detection's cost. `tag` keeps the
    temporary names of rules run side by side (Spark) apart."""
    return [a for _key, a in keyed_stored_alerts(conn, rule, tr, ids, first_no, tag=tag)]


def keyed_stored_alerts(conn: duckdb.DuckDBPyConnection, rule: Rule, tr: TimeRange,
                        ids: IdsTable, first_no: int, *, tag: str = ""
                        ) -> list[tuple[tuple[str, datetime], Alert]]:
    """`stored_alerts`, each alert with its (entity, bucket) as `keyed_alerts` gives it."""
    hits, numbered = f"rule_hits{tag}", f"rule_alerts{tag}"
    try:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {hits} AS " + grouped_hits_sql(rule, tr))
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {numbered} AS "
                     + stored_alerts_sql(hits), [first_no])
        ids.add(conn, alert_ids_rows_sql(hits, numbered), tag)
        rows = conn.execute(f"""
            SELECT entity, bucket, alert_no, n, first_time, last_time, access_key_id,
                   principal_arn, source_ip, account
            FROM {numbered} ORDER BY alert_no""").fetchall()
    except duckdb.Error:
        # Numbers after `first_no` may be given again (DuckDB's next rule): leave none.
        ids.discard(conn, tag, first_no)
        raise
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {hits}")
        conn.execute(f"DROP TABLE IF EXISTS {numbered}")
    return [((entity, bucket), Alert(
        rule_id=rule.id, title=rule.title, severity=rule.severity, stage=rule.stage,
        techniques=rule.techniques, event_ids=StoredIds(ids, int(no), int(n)),
        event_time=first, last_event_time=last, access_key_id=key, principal_arn=arn,
        source_ip=ip, account=account, count=int(n), author=rule.author))
        for entity, bucket, no, n, first, last, key, arn, ip, account in rows]


def alert_order(a: Alert) -> tuple:
    return (a.event_time, a.rule_id, a.access_key_id or "")


def detect(conn: duckdb.DuckDBPyConnection, ruleset: RuleSet, *,
           since: datetime | None = None, until: datetime | None = None) -> DetectResult:
    """All enabled rules over the connection's `events` view, alerts in time order."""
    tr = TimeRange(since, until)
    # DuckDB draws its own progress bar on stderr for long queries; the CLI has its own.
    conn.execute("SET enable_progress_bar = false")
    ids = DuckDBIds(conn)
    alerts: list[Alert] = []
    skipped = list(ruleset.skipped)
    timings: dict[str, float] = {}
    for rule in ruleset.enabled:
        t0 = time.perf_counter()
        try:
            alerts.extend(stored_alerts(conn, rule, tr, ids, len(alerts)))
        except duckdb.Error as e:
            skipped.append((rule.id, f"query failed: {str(e).splitlines()[0]}"))
        timings[rule.id] = time.perf_counter() - t0
    alerts.sort(key=alert_order)
    return DetectResult(alerts=alerts, skipped=skipped, timings=timings)
