"""`ingest --engine spark`: log objects -> the same store the DuckDB ingest writes.

Same layout (`events/account=<id>/date=<YYYY-MM-DD>/*.parquet`, same columns and types), same
manifest (SQLite, the commit point), same guarantees: an object already recorded with the same
version is not read again, an eventID already stored is not stored twice, a bad object or record
is quarantined with the reason the DuckDB ingest gives, and a crash at any point followed by a
re-run equals one clean run. A store can be fed by either engine, in any order.

How the work is split:

- **The driver lists** objects and checks the manifest. Local paths are listed by the DuckDB
  ingest's own walker (same names, versions, digest and extension rules); URIs (`s3a://`,
  `hdfs://`, `abfs://`, `gs://`, `file://`) through Hadoop's FileSystem API, so credentials and
  endpoints are Spark's (`spark.hadoop.fs.s3a.*`) and globs work as in any Spark path. S3 objects
  are named `s3://bucket/key` with their ETag as version, as the boto3 reader names them.
- **Executors read and normalize**: `binaryFile` reads the objects, an Arrow UDF
  (`spark/records.py`) decodes and normalizes them with the DuckDB ingest's own code.
- **Spark de-duplicates and writes**: first copy by (object order, position) wins, eventIDs
  already in the store's touched partitions are dropped, dropped copies with other content are
  reported; parts are written to `tmp/`, moved into `events/`, and the manifest transaction
  commits the batch, exactly as `store/writer.py` does.

Batches are bounded by stored bytes (`batch_bytes`), so a failure costs one batch. The store
itself must be a path the driver can write SQLite in and the executors can write Parquet in:
a local disk in local mode, a shared file system (NFS/EFS, a Databricks volume) on a cluster.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from trailhound.errors import StoreError, UsageError
from trailhound.normalize import COLUMN_NAMES, MAX_RECORD_BYTES
from trailhound.sources import layout
from trailhound.sources.base import SourceObject
from trailhound.sources.decode import DEFAULT_MAX_OBJECT_BYTES, BadObject, BadRecord, Decoded
from trailhound.spark.connection import _guard
from trailhound.spark.records import process_objects, spark_result_ddl
from trailhound.spark.store import escape_glob, events_ddl, read_uri, uri
from trailhound.store.batch import BatchResult, Pending
from trailhound.store.engine import Store
from trailhound.store.ingest import IngestStats, account_batch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_BATCH_BYTES = 512 * 1024 * 1024  # stored (compressed) bytes per Spark job
MAX_OBJECTS_PER_BATCH = 50_000
MAX_RECORDS_PER_FILE = 2_000_000

# Session settings of the ingest: the UDF gets a bounded number of objects per call, small
# objects are packed into tasks, and the staged output (one row per object, its events nested)
# is read back row by row: the vectorized reader would reserve one contiguous buffer for the
# nested events of a whole batch of objects.
INGEST_SQL_CONF = {
    "spark.sql.execution.arrow.maxRecordsPerBatch": "64",
    "spark.sql.files.openCostInBytes": str(256 * 1024),
    "spark.sql.parquet.enableNestedColumnVectorizedReader": "false",
}
# The staged output holds one row per object, its events nested: a row can be megabytes.
# Parquet checks page and row-group sizes only every 100 rows by default, so 100 large objects
# made one page of ~500 MB, which the reader decompresses into one direct buffer (the 8.8 M-event
# benchmark's 4 GB driver ran out of direct memory). Checked after every row instead.
STAGED_WRITE_OPTIONS = {
    "parquet.block.size": str(16 * 1024 * 1024),
    "parquet.page.size.row.check.min": "1",
    "parquet.page.size.check.estimate": "false",
}
# Only the read of the log objects tolerates files that vanished or cannot be read: they come
# back without a row and are quarantined like in the DuckDB ingest. (Set for the session, the
# same tolerance would let a failed read of Spark's own staged output drop events silently.)
SOURCE_READ_OPTIONS = {"ignoreMissingFiles": "true", "ignoreCorruptFiles": "true"}

# What makes two deliveries of one eventID the same event (store/batch.py's _CONTENT_SQL,
# hashed with Spark's xxhash64: only ever compared with hashes Spark computed).
_CONTENT_COLUMNS = ("event_time", "event_source", "event_name", "source_ip", "user_agent",
                    "principal_arn", "access_key_id", "error_code", "recipient_account_id",
                    "bytes_out", "request_parameters", "response_elements")


@dataclass(frozen=True)
class Listed:
    """One object to read: its manifest identity and the path Spark reads it by."""

    name: str
    version: str
    size: int
    path: str


ProgressFn = Callable[[IngestStats], None]


def ingest(sources: list[str], store: Store, spark: SparkSession, *,
           batch_bytes: int = DEFAULT_BATCH_BYTES,
           max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
           max_record_bytes: int = MAX_RECORD_BYTES,
           progress: ProgressFn | None = None) -> IngestStats:
    """Ingest every log object under `sources` into `store` on Spark; safe to re-run."""
    stats = IngestStats()
    started = time.perf_counter()

    def skipped(_name: str, why: str) -> None:
        stats.skipped[why] = stats.skipped.get(why, 0) + 1

    for k, v in INGEST_SQL_CONF.items():
        spark.conf.set(k, v)
    if spark.sparkContext.master.startswith("local"):
        # Checking thousands of explicit paths as a Spark job costs seconds per batch on one
        # machine; the driver's own threads do it in a fraction (a cluster keeps the job).
        spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.threshold", "1000000")
    with store.writer_lock():
        stats.orphan_parts_removed = store.recover()
        stats.parts_adopted = store.adopted_parts
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        seen_sha: dict[str, str] = {}
        next_fid = 0
        try:
            for batch in _batches(list_objects(sources, spark, skipped), store, stats,
                                  batch_bytes):
                fids = list(range(next_fid, next_fid + len(batch)))
                next_fid += len(batch)
                _process(spark, store, batch, fids, stats, seen_sha,
                         max_object_bytes=max_object_bytes, max_record_bytes=max_record_bytes)
                stats.seconds = time.perf_counter() - started
                if progress:
                    progress(stats)
        except ConnectionError as e:  # py4j lost the JVM: it exited (memory, killed)
            raise StoreError(f"Spark stopped during the ingest ({e}); what was committed is "
                             "intact, run ingest again to finish (more spark.driver.memory "
                             "or spark.executor.memory may be needed)",
                             location=str(store.root)) from e
        except OSError as e:
            raise StoreError(f"cannot write the store ({e.strerror or e}); what was committed "
                             "is intact, free space and run ingest again to finish",
                             location=str(store.root)) from e
        finally:
            shutil.rmtree(store.tmp_dir, ignore_errors=True)
    stats.seconds = time.perf_counter() - started
    return stats


# ---------------------------------------------------------------------------------------------
# Listing (driver)


def list_objects(sources: list[str], spark: SparkSession,
                 skipped: Callable[[str, str], None]) -> Iterator[Listed]:
    for src in sources:
        if "://" not in src:
            from trailhound.sources import local

            for obj in local.walk(src, skipped=skipped):
                yield Listed(obj.name, obj.version, obj.size, "file:" + obj.name)
        else:
            yield from _list_hadoop(src, spark, skipped)


def manifest_name(path: str) -> str:
    """The object's identity in the manifest: `s3://bucket/key` for every S3 spelling (as the
    boto3 reader names it), the local path for `file:` URIs, else the URI itself."""
    for scheme in ("s3a://", "s3n://", "s3://"):
        if path.startswith(scheme):
            return "s3://" + path[len(scheme):]
    if path.startswith("file:"):
        rest = path[len("file:"):]
        return "/" + rest.lstrip("/")
    return path


def _list_hadoop(src: str, spark: SparkSession,
                 skipped: Callable[[str, str], None]) -> Iterator[Listed]:
    sc = spark.sparkContext
    jvm = sc._jvm  # type: ignore[attr-defined]
    conf = sc._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    try:
        root = jvm.org.apache.hadoop.fs.Path(src)
        fs = root.getFileSystem(conf)
        matches = fs.globStatus(root)
    except Exception as e:  # py4j wraps Hadoop's IOExceptions
        text = str(e).strip().splitlines()
        raise UsageError(f"{src}: cannot list ({text[0] if text else type(e).__name__}); "
                         "for s3a:// Spark needs hadoop-aws on its classpath and "
                         "spark.hadoop.fs.s3a.* credentials") from None
    if matches is None or len(matches) == 0:
        raise UsageError(f"{src}: no such file or directory")
    found: list[Listed] = []
    for st in matches:
        if st.isDirectory():
            it = fs.listFiles(st.getPath(), True)
            while it.hasNext():
                f = it.next()
                path = f.getPath().toString()
                rel = path[len(st.getPath().toString()):]
                if any(part.startswith((".", "_")) for part in rel.split("/") if part):
                    continue
                if layout.is_digest(path):
                    skipped(path, "CloudTrail digest file")
                    continue
                if not layout.looks_like_log(path):
                    skipped(path, "not a log file (extension)")
                    continue
                found.append(_listed(f, path))
        else:
            path = st.getPath().toString()
            if layout.is_digest(path):
                skipped(path, "CloudTrail digest file")
                continue
            found.append(_listed(st, path))
    found.sort(key=lambda x: x.path)
    yield from found


def _listed(status: Any, path: str) -> Listed:
    size = int(status.getLen())
    version = f"{size}:{int(status.getModificationTime())}"
    try:
        etag = status.getEtag()  # S3A: the ETag, as the boto3 reader records it
        if etag:
            version = str(etag).strip('"')
    except Exception:  # noqa: S110 - not an S3A status: size and time are the version
        pass
    return Listed(manifest_name(path), version, size, path)


def _batches(objects: Iterator[Listed], store: Store, stats: IngestStats,
             batch_bytes: int) -> Iterator[list[Listed]]:
    seen: set[str] = set()
    batch: list[Listed] = []
    size = 0
    for obj in objects:
        stats.objects_seen += 1
        if obj.name in seen:
            continue
        seen.add(obj.name)
        known = store.manifest.lookup(obj.name)
        never_read = known is not None and known[2] == "quarantined" and not known[1]
        if known and known[0] == obj.version and not never_read:
            stats.objects_unchanged += 1
            continue
        batch.append(obj)
        size += obj.size
        if size >= batch_bytes or len(batch) >= MAX_OBJECTS_PER_BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------
# One batch: read + normalize (executors), de-duplicate + write (Spark), commit (driver)


def _process(spark: SparkSession, store: Store, batch: list[Listed], fids: list[int],
             stats: IngestStats, seen_sha: dict[str, str], *, max_object_bytes: int,
             max_record_bytes: int) -> None:
    from pyspark.sql import functions as F

    batch_id = uuid.uuid4().hex[:16]
    info = spark.createDataFrame([(f, o.name, o.path) for f, o in zip(fids, batch, strict=True)],
                                 "f bigint, name string, path string")
    raw = (spark.read.format("binaryFile").options(**SOURCE_READ_OPTIONS)
           .load([escape_glob(o.path) for o in batch]))
    udf = _udf(max_object_bytes, max_record_bytes)
    # The executors' output is written once to tmp/ and read back by each pass below. (A
    # cached DataFrame would build 10,000-object column batches in the JVM heap before it
    # could spill: a few GB for a batch of large objects.)
    staged = store.tmp_dir / f"spark-{batch_id}-normalized"
    _guard(raw.select("path", "content").join(F.broadcast(info), "path")
           .select("f", udf("f", "name", "content").alias("r"))
           .write.options(**STAGED_WRITE_OPTIONS).mode("overwrite").parquet,
           uri(str(staged)))
    out = spark.read.parquet(read_uri(str(staged)))
    flat = store.tmp_dir / f"spark-{batch_id}-events"
    try:
        found = {int(r.f): r for r in _guard(out.select(
            "f", "r.sha256", "r.format", "r.bad", "r.raw_bytes", "r.n_events").collect)}
        refused: dict[int, list[BadRecord]] = {}
        for r in _guard(out.select("f", F.explode("r.refused").alias("x"))
                        .select("f", "x.*").collect):
            refused.setdefault(int(r.f), []).append(
                BadRecord(r.position, r.reason, (r.text or "").encode()))

        items, excluded = _outcomes(store, batch, fids, found, seen_sha, stats)
        # The events, one row each, staged once more: nested rows can only be read back row
        # by row, flat ones column-wise (and the de-duplication reads a few columns only).
        _guard(out.where(~F.col("f").isin(excluded) if excluded else F.lit(True))
               .select("f", F.explode("r.events").alias("e")).select("f", "e.*")
               .write.mode("overwrite").parquet, uri(str(flat)))
        events = spark.read.parquet(read_uri(str(flat)))
        per_file, conflicts, parts = _dedupe_and_write(spark, store, events, batch_id)
        _check_counts(found, per_file, excluded, store)
        res = BatchResult(per_file=per_file,
                          bad_records={f: r for f, r in refused.items() if f not in excluded},
                          object_bad={p.fid: p.bad.reason for p in items if p.bad is not None},
                          conflicts=conflicts)
        _fetch_quarantined(spark, items, res, {f: o for f, o in zip(fids, batch, strict=True)})
        objects, quarantine = account_batch(store, batch_id, items, res, stats)
        store.manifest.commit_batch(batch_id, parts, objects, quarantine)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(flat, ignore_errors=True)


def _check_counts(found: dict[int, Any], per_file: dict[int, tuple[int, int]],
                  excluded: list[int], store: Store) -> None:
    """Every event the executors normalized reached de-duplication. A difference means a
    stage lost rows (a read that failed quietly): stop before the manifest commits anything."""
    skip = set(excluded)
    lost = [(f, int(r.n_events or 0), per_file.get(f, (0, 0))[0]) for f, r in found.items()
            if f not in skip and int(r.n_events or 0) != per_file.get(f, (0, 0))[0]]
    if lost:
        _, made, seen = lost[0]
        raise StoreError(f"Spark lost events between stages ({len(lost)} objects, e.g. "
                         f"{made} normalized, {seen} de-duplicated); nothing of this batch was "
                         "committed, run ingest again", location=str(store.root))


def _udf(max_object_bytes: int, max_record_bytes: int) -> Any:
    from pyspark.sql.functions import arrow_udf

    # Arrow UDFs are typed by their hints (pa.Array in, pa.Array out: one value per object).
    def normalize(fids: pa.Array, names: pa.Array, contents: pa.Array) -> pa.Array:
        return process_objects(fids.to_pylist(), names.to_pylist(), contents.to_pylist(),
                               max_object_bytes=max_object_bytes,
                               max_record_bytes=max_record_bytes)

    return arrow_udf(normalize, spark_result_ddl())


def _outcomes(store: Store, batch: list[Listed], fids: list[int], found: dict[int, Any],
              seen_sha: dict[str, str], stats: IngestStats
              ) -> tuple[list[Pending], list[int]]:
    """Each object as the DuckDB ingest sees it after reading: unreadable, unchanged content,
    the same bytes as another object (not stored again), or read. Returns the objects to
    account for and the ids whose events must not be stored."""
    items: list[Pending] = []
    excluded: list[int] = []
    for f, o in zip(fids, batch, strict=True):
        obj = SourceObject(o.name, o.size, o.version, reader=_no_read)
        r = found.get(f)
        if r is None:
            items.append(Pending(f, obj, "", None, bad=BadObject(
                "cannot read object (missing or unreadable when Spark read it)")))
            excluded.append(f)
            continue
        sha = r.sha256
        stats.bytes_read += o.size
        known = store.manifest.lookup(o.name)
        if known and known[1] == sha:
            stats.objects_unchanged += 1  # touched, same bytes: nothing new
            excluded.append(f)
            continue
        same = seen_sha.get(sha) or store.manifest.source_with_sha(sha)
        if same and same != o.name:
            items.append(Pending(f, obj, sha, None, same_as=same))
            excluded.append(f)
            continue
        seen_sha[sha] = o.name
        stats.bytes_decoded += int(r.raw_bytes or 0)
        decoded = Decoded(b"", r.format) if r.format else None
        bad = BadObject(r.bad) if r.bad else None
        items.append(Pending(f, obj, sha, decoded, bad=bad))
    return items, excluded


def _no_read() -> bytes:
    raise OSError("object bytes stay on the executors")


def _dedupe_and_write(spark: SparkSession, store: Store, events: DataFrame, batch_id: str
                      ) -> tuple[dict[int, tuple[int, int]], dict[int, list[BadRecord]],
                                 list[tuple[str, int | None]]]:
    """De-duplicate on narrow keys (object, position, eventID, content hash), as the DuckDB
    ingest does: the wide rows (raw JSON) go through one pass only, the write."""
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    h = F.xxhash64(*[F.col(c) for c in _CONTENT_COLUMNS])
    keys = events.select("f", "i", "event_id", "account", "date", h.alias("h"))
    keys = keys.withColumn(
        "rn", F.row_number().over(Window.partitionBy("event_id").orderBy("f", "i")))
    parts_of = [(r.account, r.date)
                for r in _guard(keys.select("account", "date").distinct().collect)]
    existing_paths = _existing_parts(store, parts_of)
    stored = None
    if existing_paths:
        stored = (spark.read.schema(events_ddl(partitions=False))
                  .parquet(*[read_uri(p) for p in existing_paths])
                  .select("event_id", h.alias("sh")))
        keys = keys.join(stored.select("event_id", F.lit(True).alias("in_store")).distinct(),
                         "event_id", "left")
    else:
        keys = keys.withColumn("in_store", F.lit(False))
    keys = keys.withColumn(
        "dropped", (F.col("rn") > 1) | F.coalesce(F.col("in_store"), F.lit(False)))
    keys = keys.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        per_file = {int(r.f): (int(r.n), int(r.n) - int(r.d)) for r in _guard(
            keys.groupBy("f").agg(F.count(F.lit(1)).alias("n"),
                                  F.sum(F.col("dropped").cast("int")).alias("d")).collect)}
        ref = keys.where(~F.col("dropped")).select("event_id", F.col("h").alias("kh"))
        if stored is not None:
            ref = ref.unionByName(stored.select("event_id", F.col("sh").alias("kh")))
        conflicted = (keys.where(F.col("dropped")).join(ref, "event_id")
                      .where(F.col("h") != F.col("kh")).select("f", "i").distinct())
        bad = (events.join(conflicted, ["f", "i"])
               .select("f", "i", "event_id", F.substring("raw", 1, 65536).alias("text")))
        conflicts: dict[int, list[BadRecord]] = {}
        for r in sorted(_guard(bad.collect), key=lambda r: (r.f, r.i)):
            conflicts.setdefault(int(r.f), []).append(BadRecord(
                f"record {r.i}", f"same eventID {r.event_id} as an event already kept, "
                "different content (first copy kept; this one saved here)",
                (r.text or "").encode()))
        dropped = keys.where(F.col("dropped")).select("f", "i")
        kept = (events.join(dropped, ["f", "i"], "left_anti")
                .select(*COLUMN_NAMES, "account", "date"))
        parts = _write(store, kept, batch_id)
    finally:
        keys.unpersist()
    return per_file, conflicts, parts


def _existing_parts(store: Store, keys: list[tuple[str, Any]]) -> list[str]:
    """Committed parts in the partitions the batch writes to: the only place a duplicate of
    one of its events can be (a duplicate has the same account and eventTime)."""
    committed = sorted(store.manifest.committed_parts())
    out: list[str] = []
    for account, date in keys:
        prefix = f"events/account={account}/date={date}/"
        out.extend(str(store.root / p) for p in committed if p.startswith(prefix))
    return out


def _write(store: Store, kept: DataFrame, batch_id: str) -> list[tuple[str, int | None]]:
    """Parquet parts into tmp/, then moved into events/ under the DuckDB writer's names. Not
    visible to readers until the manifest commits them; orphans if the run dies first."""
    import pyarrow.parquet as pq

    stage = store.tmp_dir / f"spark-{batch_id}"
    _guard(kept.repartition("account", "date").sortWithinPartitions("event_time", "event_id")
           .write.partitionBy("account", "date")
           .option("compression", "zstd")
           .option("maxRecordsPerFile", MAX_RECORDS_PER_FILE)
           .mode("overwrite").parquet, uri(str(stage)))
    parts: list[tuple[str, int | None]] = []
    for n, src in enumerate(sorted(stage.glob("account=*/date=*/*.parquet"))):
        rel = Path("events") / src.parent.parent.name / src.parent.name / (
            f"part-{batch_id}-{n}.parquet")
        dest = store.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        rows = pq.read_metadata(src).num_rows
        os.replace(src, dest)
        parts.append((rel.as_posix(), rows))
    shutil.rmtree(stage, ignore_errors=True)
    return parts


def _fetch_quarantined(spark: SparkSession, items: list[Pending], res: BatchResult,
                       listed: dict[int, Listed]) -> None:
    """Bytes of the objects about to be quarantined, so the copy under quarantine/objects/
    is kept as the DuckDB ingest keeps it (few objects: read through Spark, on the driver)."""
    want = {}
    for p in items:
        valid = res.per_file.get(p.fid, (0, 0))[0]
        if p.sha256 and (p.fid in res.object_bad
                         or (valid == 0 and res.bad_records.get(p.fid))):
            want[listed[p.fid].path] = p
    if not want:
        return
    rows = _guard(spark.read.format("binaryFile")
                  .load([escape_glob(x) for x in want]).select("path", "content").collect)
    for r in rows:
        if r.path in want:
            want[r.path].data = bytes(r.content)
