"""Alert event ids of a Spark `detect`: written by the executors, never sent to the driver.

Each rule's (alert_no, event_id) rows are written as Parquet under the store's tmp/ (one folder
per rule, sorted within each file, so a reader's filter on one alert skips the other row
groups). Correlation joins them on Spark (`relation_on` defines a view over the files); the
hunt writes alerts.ndjson from them through a local DuckDB, a chunk at a time. At 8.8 M events
the driver used to receive 11 M ids and ran out of heap in correlation's first join.
"""

from __future__ import annotations

import shutil
import uuid
import weakref
from pathlib import Path
from typing import Any

import duckdb

from trailhound.rules.alert_ids import IdsTable
from trailhound.spark.connection import SparkConnection, _guard
from trailhound.spark.store import read_uri, uri

SCHEMA = "alert_no bigint, event_id string"


class ParquetIds(IdsTable):
    """One detect run's ids as Parquet in `folder` (removed by `close`, or at exit)."""

    def __init__(self, tmp_dir: Path) -> None:
        run = uuid.uuid4().hex[:12]
        self.name = f"alert_event_ids_{run}"
        self.folder = Path(tmp_dir) / f"alert-ids-{run}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._tmp_dir = Path(tmp_dir)
        self._local: duckdb.DuckDBPyConnection | None = None
        self._views: list[SparkConnection] = []
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.folder), True)

    def add(self, conn: Any, select_sql: str, part: str) -> None:
        df = conn.query(select_sql).sortWithinPartitions("alert_no", "event_id")
        _guard(df.write.mode("overwrite").parquet, uri(str(self.folder / part)))

    def discard(self, conn: Any, part: str, first_no: int) -> None:
        shutil.rmtree(self.folder / part, ignore_errors=True)

    def _files(self) -> list[str]:
        # A rule with no alert still leaves one file holding the schema (Spark writes it).
        return sorted(str(f) for f in self.folder.glob("*/*.parquet"))

    def relation_on(self, conn: Any) -> str | None:
        if conn is self._local:
            return self.name
        if not isinstance(conn, SparkConnection):
            return None
        if conn not in self._views:
            spark = conn.spark
            df = (spark.read.schema(SCHEMA).parquet(read_uri(str(self.folder)) + "/*")
                  if self._files() else spark.createDataFrame([], SCHEMA))
            conn.define_view(self.name, df)
            self._views.append(conn)
        return self.name

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """A local DuckDB over the files, opened on first use: after `detect` returned."""
        if self._local is None:
            from trailhound.store.engine import new_connection, sql_literal

            local = new_connection(temp_dir=self._tmp_dir / "duckdb")
            files = self._files()
            if files:
                paths = ", ".join(sql_literal(f) for f in files)
                local.execute(f"CREATE TEMP VIEW {self.name} AS SELECT alert_no, event_id "
                              f"FROM read_parquet([{paths}])")
            else:
                local.execute(f"CREATE TEMP TABLE {self.name} (alert_no BIGINT, "
                              "event_id VARCHAR)")
            self._local = local
        return self._local

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        for conn in self._views:
            conn.unregister(self.name)
        self._views.clear()
        self._cleanup()
