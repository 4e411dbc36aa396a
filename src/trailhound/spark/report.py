"""The report stage of a Spark hunt: a small local extract, read by the unchanged report code.

Detection and correlation run on Spark over every event. What the report then reads is small
and bounded by the incidents, not by the store: the attributed events (`att`, `att_events`),
and for `investigate` the events of every key in each incident's lineage (created keys and
obtained sessions, to the depth `investigate` follows). Those rows are pulled to the driver
once, as Arrow, into an in-memory DuckDB, and the report's queries (timeline, milestones,
evidence files, the investigation) run there as they do after a DuckDB hunt, with the same
results, instead of as hundreds of small Spark jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from trailhound.normalize import COLUMN_NAMES

if TYPE_CHECKING:
    from trailhound.correlate import Correlation
    from trailhound.spark.connection import SparkConnection
    from trailhound.store.engine import Store


def lineage_keys(conn: SparkConnection, seeds: list[str], depth: int) -> list[str]:
    """Every key reachable from `seeds` through created keys and obtained sessions in at most
    `depth` steps (what `investigate._lineage` can visit, a superset of it)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    makers = conn.query(
        "SELECT DISTINCT access_key_id AS parent, "
        "coalesce(created_access_key_id, session_access_key_id) AS child FROM events "
        "WHERE error_code IS NULL AND access_key_id IS NOT NULL "
        "AND (created_access_key_id IS NOT NULL OR session_access_key_id IS NOT NULL)"
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        known = set(seeds)
        frontier = sorted(known)
        for _ in range(depth):
            if not frontier:
                break
            rows = makers.where(F.col("parent").isin(frontier)).select("child").collect()
            frontier = sorted({r.child for r in rows if r.child} - known)
            known.update(frontier)
    finally:
        makers.unpersist()
    return sorted(known)


def report_connection(conn: SparkConnection, correlation: Correlation, store: Store
                      ) -> duckdb.DuckDBPyConnection:
    """A local DuckDB holding `events` (the incidents' lineage and attributed events), `att`
    and `att_events`, as `correlate` left them on Spark."""
    from trailhound.investigate.profile import MAX_DEPTH
    from trailhound.store.engine import new_connection

    seeds: list[str] = []
    for inc in correlation.incidents:
        seeds += [inc.root_access_key, *inc.access_keys]
    keys = lineage_keys(conn, seeds, MAX_DEPTH) if seeds else []
    conn.register("report_keys", pa.table({"k": pa.array(keys, pa.string())}))
    cols = ", ".join((*COLUMN_NAMES, "account", "date"))
    events = conn.execute(
        f"SELECT {cols} FROM events WHERE access_key_id IN (SELECT k FROM report_keys) "
        "OR event_id IN (SELECT event_id FROM att)").fetch_arrow_table()
    att = conn.execute("SELECT * FROM att").fetch_arrow_table()
    att_events = conn.execute("SELECT * FROM att_events").fetch_arrow_table()
    conn.unregister("report_keys")

    local = new_connection(temp_dir=store.tmp_dir / "duckdb")
    for name, table in (("events", events), ("att", att), ("att_events", att_events)):
        local.register(f"{name}_arrow", table)
        local.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        local.unregister(f"{name}_arrow")
    return local
