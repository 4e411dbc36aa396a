"""The report stage of a Spark hunt: a local extract, read by the unchanged report code.

Detection and correlation run on Spark over every event. What the report then reads is
bounded by the incidents, not by the store: the attributed events (`att`, `att_events`),
and for `investigate` the events of every key in each incident's lineage (created keys and
obtained sessions, to the depth `investigate` follows). The executors write those rows once
as Parquet under the store's tmp/ (a lineage key may be a busy CI key: millions of rows, too
many to collect through the driver), a local DuckDB loads them, and the report's queries
(timeline, milestones, evidence files, the investigation) run there as they do after a
DuckDB hunt, with the same results, instead of as hundreds of small Spark jobs.
"""

from __future__ import annotations

import shutil
import uuid
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from trailhound.normalize import COLUMN_NAMES
from trailhound.spark.connection import _guard
from trailhound.spark.store import uri

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
    # Written by the executors as Parquet, not collected through the driver: a lineage key
    # can be a busy CI key with millions of events, more than a driver's result limit.
    extract = store.tmp_dir / f"report-extract-{uuid.uuid4().hex}"
    local = new_connection(temp_dir=store.tmp_dir / "duckdb")
    try:
        for name, sql in (
                ("events", f"SELECT {cols} FROM events WHERE access_key_id IN "
                           "(SELECT k FROM report_keys) OR event_id IN (SELECT event_id FROM att)"),
                ("att", "SELECT * FROM att"), ("att_events", "SELECT * FROM att_events")):
            df = conn.query(sql)
            folder = extract / name
            _guard(df.write.mode("overwrite").parquet, uri(str(folder)))
            # No rows still make one part file holding the schema (Spark writes it).
            files = sorted(str(f) for f in folder.glob("*.parquet"))
            local.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM read_parquet(?)", [files])
    finally:
        conn.unregister("report_keys")
        shutil.rmtree(extract, ignore_errors=True)
    return local
