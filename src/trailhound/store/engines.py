"""The two engines behind `--engine`: what ingest, detect and hunt need from each.

An engine ingests sources into a store, opens a connection that detection and correlation
query (DuckDB's own, or `spark.connection.SparkConnection`, which speaks the same subset of
its API and transpiles the same SQL), and hands the report stage a DuckDB connection with the
events the reports read (the Case, correlation's answer, is on disk in the store). The store
on disk is the same for both, so either engine can read what the other wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from trailhound.errors import UsageError
from trailhound.store.engine import Store

if TYPE_CHECKING:
    from trailhound.rules.model import DetectResult, RuleSet
    from trailhound.store.ingest import IngestStats

ENGINES = ("duckdb", "spark")


class Engine(Protocol):
    name: str

    def ingest(self, sources: list[str], store: Store, **options: Any) -> IngestStats: ...

    def connect(self, store: Store) -> Any: ...

    def detect(self, conn: Any, ruleset: RuleSet, **options: Any) -> DetectResult: ...

    def report_connection(self, conn: Any, store: Store) -> Any: ...


class DuckDBEngine:
    """The embedded default: everything in this process."""

    name = "duckdb"

    def ingest(self, sources: list[str], store: Store, **options: Any) -> IngestStats:
        from trailhound.store.ingest import ingest

        return ingest(sources, store, **options)

    def connect(self, store: Store) -> Any:
        return store.connect()

    def detect(self, conn: Any, ruleset: RuleSet, **options: Any) -> DetectResult:
        from trailhound.rules import detect

        return detect(conn, ruleset, **options)

    def report_connection(self, conn: Any, store: Store) -> Any:
        return conn


class SparkEngine:
    """Apache Spark (`--spark-master`, spark-defaults.conf, PYSPARK_SUBMIT_ARGS)."""

    name = "spark"

    def __init__(self, master: str | None = None, conf: dict[str, str] | None = None) -> None:
        from trailhound.spark.session import get_session

        self.session = get_session(master, conf=conf)

    def ingest(self, sources: list[str], store: Store, **options: Any) -> IngestStats:
        from trailhound.spark.ingest import ingest

        if options.get("s3") is not None:
            raise UsageError("--profile, --endpoint-url, --account, --region, --since and "
                             "--until apply to the DuckDB engine's S3 reader; with --engine "
                             "spark, S3 is read through Hadoop's s3a connector: configure it "
                             "with spark.hadoop.fs.s3a.* and narrow with a path or glob")
        options.pop("s3", None)
        return ingest(sources, store, self.session, **options)

    def connect(self, store: Store) -> Any:
        from trailhound.spark.store import connect

        return connect(store, self.session)

    def detect(self, conn: Any, ruleset: RuleSet, **options: Any) -> DetectResult:
        from trailhound.spark.detect import detect

        return detect(conn, ruleset, **options)

    def report_connection(self, conn: Any, store: Store) -> Any:
        from trailhound.spark.report import report_connection

        return report_connection(conn, store)


def open_engine(name: str = "duckdb", *, spark_master: str | None = None,
                spark_conf: dict[str, str] | None = None) -> Engine:
    if name == "duckdb":
        if spark_master:
            raise UsageError("--spark-master applies to --engine spark only")
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine(spark_master, spark_conf)
    raise UsageError(f"--engine {name}: expected one of {', '.join(ENGINES)}")
