"""Rule -> one SQL query over `events`.

`hits_sql` gives the evidence events of a rule (the kind's query, minus events an override
filters out); `alerts_sql` wraps it so the engine also does the grouping, and only one row per
alert ever reaches Python, however noisy the rule.
"""

from __future__ import annotations

from trailhound.rules.kinds import KIND_MODULES, entity_sql
from trailhound.rules.kinds.sigma_kind import hits_sql_for_where
from trailhound.rules.model import Rule
from trailhound.rules.timerange import ALL_TIME, TimeRange


def hits_sql(rule: Rule, tr: TimeRange = ALL_TIME, state: dict[str, str] | None = None) -> str:
    """`state`: tables of the rule's summaries kept across polls by the watch (see the
    kinds' `SUMMARIES`); without it every rule reads its history from `events`."""
    filters = " OR ".join(f"({f})" for f in rule.filters)
    if rule.kind == "sigma":
        where = rule.spec["_where"]
        if filters:
            where = f"({where}) AND NOT coalesce(({filters}), false)"
        return hits_sql_for_where(where, tr)
    sql = KIND_MODULES[rule.kind].hits_sql(rule, tr, state)
    if filters:
        sql = (f"SELECT * FROM ({sql}) h WHERE h.event_id NOT IN "
               f"(SELECT event_id FROM events WHERE {filters})")
    return sql


def _grouped(rule: Rule, tr: TimeRange, state: dict[str, str] | None = None) -> str:
    """CTEs `hits` (the evidence) and `g` (each hit with its alert's entity and bucket)."""
    w = int(rule.window_seconds)
    return f"""WITH hits AS (
{hits_sql(rule, tr, state)}
), g AS (
    SELECT *, coalesce(grp_entity, {entity_sql(rule.group_by)}) AS entity,
           coalesce(grp, time_bucket(INTERVAL {w} SECOND, event_time)) AS bucket
    FROM hits
)
"""


def alert_ids_sql(rule: Rule, tr: TimeRange = ALL_TIME,
                  state: dict[str, str] | None = None) -> str:
    """The event ids of one alert (parameters: entity, bucket), for the rare `odd_ids` case."""
    return (_grouped(rule, tr, state)
            + "SELECT list(event_id) FROM g WHERE entity = $1 AND bucket = $2")


# What each alert row carries besides its event ids; one definition for both ways of running.
_ALERT_COLUMNS = """count(*) AS n,
       min(event_time) AS first_time, max(event_time) AS last_time,"""
# The alert's first event names its key, principal, address and account: first by time, then
# by event id, so that events of the same second (common at scale) give the same answer on
# every run and engine, and all four come from one event.
_ALERT_ORIGIN = """arg_min(access_key_id, (event_time, event_id)) AS access_key_id,
       arg_min(principal_arn, (event_time, event_id)) AS principal_arn,
       arg_min(source_ip, (event_time, event_id)) AS source_ip,
       arg_min(account, (event_time, event_id)) AS account"""


def alerts_sql(rule: Rule, tr: TimeRange = ALL_TIME,
               state: dict[str, str] | None = None) -> str:
    """One row per alert: rule x entity x window (or per finding, for aggregate kinds).

    Every kind returns each evidence event once, so plain count(*) suffices (a DISTINCT over
    the 800 k hits of a noisy rule costs more than the rule itself). Event ids travel as one
    string joined by U+001F: building 800 k Python strings out of a DuckDB list costs three
    times more than one split. An id containing U+001F (only a forged log has one) sets
    `odd_ids`, and run.py then fetches that alert's ids as a list instead."""
    return _grouped(rule, tr, state) + f"""SELECT entity, bucket,
       {_ALERT_COLUMNS}
       string_agg(event_id, chr(31)) AS event_ids,
       bool_or(contains(event_id, chr(31))) AS odd_ids,
       {_ALERT_ORIGIN}
FROM g
GROUP BY entity, bucket
ORDER BY first_time, entity, bucket"""


def grouped_hits_sql(rule: Rule, tr: TimeRange = ALL_TIME) -> str:
    """The rule's evidence, one row per event with its alert's entity and bucket: what
    `stored_alerts_sql` groups and the ids table is filled from (DuckDB's `detect`)."""
    return _grouped(rule, tr) + """SELECT entity, bucket, event_id, event_time, access_key_id,
       principal_arn, source_ip, account
FROM g"""


def stored_alerts_sql(hits_table: str) -> str:
    """One row per alert of `hits_table` (made by `grouped_hits_sql`), numbered from $1 + 1
    in the order `alerts_sql` returns them."""
    return f"""SELECT CAST($1 AS BIGINT) + row_number() OVER (ORDER BY first_time, entity, bucket)
           AS alert_no,
       *
FROM (SELECT entity, bucket,
       {_ALERT_COLUMNS}
       {_ALERT_ORIGIN}
      FROM {hits_table}
      GROUP BY entity, bucket)"""


def alert_ids_rows_sql(hits_table: str, alerts_table: str) -> str:
    """(alert_no, event_id) for every event of `hits_table`, numbered by `alerts_table`."""
    return f"""SELECT a.alert_no, h.event_id
FROM {hits_table} h JOIN {alerts_table} a
  ON h.entity IS NOT DISTINCT FROM a.entity AND h.bucket IS NOT DISTINCT FROM a.bucket"""
