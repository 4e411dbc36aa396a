"""The store seen from Spark: the same `events` view DuckDB queries, over the same parts.

Only parts listed by a committed batch in the manifest are read (as in `store/engine.py`), so a
Spark query never sees half an ingest either. Column types are given, not inferred: account
folders hold 12-digit ids that Spark would otherwise read as numbers, and event times are
naive UTC (`TIMESTAMP_NTZ`), as DuckDB reads them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from trailhound.normalize import COLUMNS, PARTITION_COLUMNS
from trailhound.spark.connection import SparkConnection

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from trailhound.store.engine import Store

SPARK_TYPES = {"VARCHAR": "string", "TIMESTAMP": "timestamp_ntz", "BOOLEAN": "boolean",
               "BIGINT": "bigint", "DATE": "date"}


def events_ddl(*, partitions: bool = True) -> str:
    """The `events` schema as Spark DDL: stored columns, then the partition columns."""
    cols = (*COLUMNS, *PARTITION_COLUMNS) if partitions else COLUMNS
    return ", ".join(f"`{c.name}` {SPARK_TYPES[c.sql_type]}" for c in cols)


def uri(path: str) -> str:
    """A local path as the URI Spark reads (a path without a scheme would be resolved against
    the cluster's default file system, HDFS on most clusters). Not percent-encoded: Hadoop
    takes `account=...` literally."""
    import os

    return path if "://" in path else "file://" + os.path.abspath(path)


def escape_glob(path: str) -> str:
    """A Hadoop path string for Spark's readers, which expand glob characters: escaped."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)


def read_uri(path: str) -> str:
    """A local path as Spark's readers take it."""
    return escape_glob(uri(path))


def events_dataframe(spark: SparkSession, store: Store) -> DataFrame:
    paths = store.committed_part_paths()
    if not paths:
        return spark.createDataFrame([], events_ddl())
    return (spark.read.schema(events_ddl())
            .option("basePath", uri(str(store.events_dir)))
            .parquet(*[read_uri(p) for p in paths]))


def connect(store: Store, spark: SparkSession) -> SparkConnection:
    """A connection with the `events` view over the store's committed parts."""
    conn = SparkConnection(spark, tmp_dir=store.tmp_dir)
    conn.define_view("events", events_dataframe(spark, store))
    return conn
