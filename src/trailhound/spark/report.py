"""The report stage of a Spark hunt: a local extract, read by the unchanged report code.

Detection and correlation run on Spark over every event, and correlation's answer - the Case -
is written into the store by the executors. What the report then reads is bounded by the
incidents, not by the store: the events of every incident credential (the attacker's use and
the owner's beside it) and every attributed event. The executors write those rows once as
Parquet under the store's tmp/ (an incident's stolen key may be a busy CI key: millions of
rows, too many to collect through the driver), a local DuckDB loads them, and the report's
queries (timeline, milestones, evidence files, the investigation) run there over the same
Case as after a DuckDB hunt, with the same results, instead of as hundreds of small Spark jobs.
"""

from __future__ import annotations

import shutil
import uuid
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from trailhound.case import Case
from trailhound.normalize import COLUMN_NAMES
from trailhound.spark.connection import _guard
from trailhound.spark.store import uri

if TYPE_CHECKING:
    from trailhound.spark.connection import SparkConnection
    from trailhound.store.engine import Store


def report_connection(conn: SparkConnection, store: Store) -> duckdb.DuckDBPyConnection:
    """A local DuckDB holding `events`: those of the Case's credentials and its attributed
    events. The report attaches the Case itself."""
    from trailhound.store.engine import new_connection

    local = new_connection(temp_dir=store.tmp_dir / "duckdb")
    case = Case(store.root)
    cred_files = case.files("credentials")
    creds = [r[0] for r in local.execute(
        "SELECT DISTINCT credential FROM read_parquet(?) WHERE credential NOT LIKE 'console:%'",
        [cred_files]).fetchall()] if cred_files else []
    attributed = case.files("attributed_events")
    conn.register("report_keys", pa.table({"k": pa.array(sorted(creds), pa.string())}))
    cols = ", ".join((*COLUMN_NAMES, "account", "date"))
    # Written by the executors as Parquet, not collected through the driver.
    extract = store.tmp_dir / f"report-extract-{uuid.uuid4().hex}"
    try:
        sql = f"SELECT {cols} FROM events WHERE access_key_id IN (SELECT k FROM report_keys)"
        if attributed:
            conn.spark.read.parquet(*[uri(f) for f in attributed]).createOrReplaceTempView(
                "report_attributed")
            sql += " OR event_id IN (SELECT event_id FROM report_attributed)"
        folder = extract / "events"
        _guard(conn.query(sql).write.mode("overwrite").parquet, uri(str(folder)))
        # No rows still make one part file holding the schema (Spark writes it).
        files = sorted(str(f) for f in folder.glob("*.parquet"))
        local.execute("CREATE TEMP TABLE events AS SELECT * FROM read_parquet(?)", [files])
    finally:
        conn.unregister("report_keys")
        conn.spark.catalog.dropTempView("report_attributed")
        shutil.rmtree(extract, ignore_errors=True)
    case.attach(local)
    return local
