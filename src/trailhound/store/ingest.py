"""Ingest: log objects -> batches -> DuckDB normalization -> Parquet parts -> manifest commit.

Python reads and gunzips objects (zlib runs without the GIL) on a background thread and packs
each batch into one NDJSON file, one line per object. DuckDB parses, normalizes, de-duplicates
and writes Parquet for the whole batch at once on every core. No record is walked in Python
unless its object failed the fast path.

Guarantees (tested): an object already in the manifest with the same version is not read
again; an eventID already stored is not stored twice; a bad object or record is quarantined
with a reason and never stops the rest; a crash at any point followed by a re-run leaves the
same events as one clean run (see `manifest.py` for the commit protocol).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import orjson
import pyarrow as pa

from trailhound.background import ahead
from trailhound.errors import StoreError
from trailhound.normalize import MAX_RECORD_BYTES
from trailhound.sources import SourceObject, discover
from trailhound.sources.base import is_s3
from trailhound.sources.decode import DEFAULT_MAX_OBJECT_BYTES, BadObject, BadRecord, decode
from trailhound.store.batch import BatchResult, Pending, run_batch
from trailhound.store.engine import Store, new_connection
from trailhound.store.manifest import Manifest, ObjectRow, QuarantineRow
from trailhound.store.writer import PartWriter, PendingCommit

if TYPE_CHECKING:
    from trailhound.sources.s3 import S3Options

DEFAULT_BATCH_BYTES = 96 * 1024 * 1024
MAX_QUARANTINE_COPY = 64 * 1024 * 1024


@dataclass
class IngestStats:
    objects_seen: int = 0
    objects_loaded: int = 0
    objects_unchanged: int = 0  # already in the manifest: not read again
    objects_same_content: int = 0  # same bytes as an object already ingested under another name
    objects_quarantined: int = 0
    objects_empty: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count (digests, ...)
    records_read: int = 0
    events_stored: int = 0
    duplicates: int = 0
    conflicts: int = 0  # duplicates of an eventID with different content (also quarantined)
    records_quarantined: int = 0
    records_repaired: int = 0  # loaded with a field replaced (U+FFFD, NULL); originals kept
    bytes_read: int = 0  # stored (compressed) bytes
    bytes_decoded: int = 0  # decompressed bytes
    orphan_parts_removed: int = 0
    parts_adopted: int = 0  # parts of a store whose manifest was lost, rebuilt into it
    parts_repaired: int = 0  # unreadable parts moved aside by --repair (objects re-read)
    seconds: float = 0.0
    quarantine: list[tuple[str, str | None, str]] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.records_read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "quarantine"}
        d["events_per_second"] = round(self.events_per_second, 1)
        d["quarantine"] = [
            {"source": s, "position": p, "reason": r} for s, p, r in self.quarantine
        ]
        return d


@dataclass
class _Batch:
    items: list[Pending]
    nbytes: int


ProgressFn = Callable[[IngestStats], None]


def ingest(
    sources: list[str],
    store: Store,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    max_record_bytes: int = MAX_RECORD_BYTES,
    progress: ProgressFn | None = None,
    objects: Iterable[SourceObject] | None = None,
    s3: S3Options | None = None,
    repair: bool = False,
) -> IngestStats:
    """Ingest every log object under `sources` into `store`; safe to re-run at any time.
    `repair`: first move unreadable parts aside and read their objects again.

    `s3` reaches and narrows `s3://` sources; those are downloaded ahead of the reader, so
    they are told which objects the manifest already holds, and never fetch them again."""
    stats = IngestStats()
    started = time.perf_counter()

    def skipped(name: str, why: str) -> None:
        stats.skipped[why] = stats.skipped.get(why, 0) + 1

    with store.writer_lock():
        stats.orphan_parts_removed = store.recover()
        stats.parts_adopted = store.adopted_parts
        if repair:
            stats.parts_repaired = store.repair()
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        conn = new_connection(temp_dir=store.tmp_dir / "duckdb")
        probe = (Manifest(store.root / "manifest.sqlite")
                 if objects is None and any(is_s3(s) for s in sources) else None)

        def known(name: str, version: str) -> bool:
            row = probe.lookup(name) if probe is not None else None
            return row is not None and row[0] == version

        source_iter = objects if objects is not None else discover(
            sources, skipped=skipped, s3=s3, known=known)
        batches = _produce(source_iter, store, stats, batch_bytes, max_object_bytes)
        writer = PartWriter(store)
        in_flight: pa.Table | None = None
        try:
            for batch in batches:
                in_flight = _process(batch, store, conn, stats, max_record_bytes, writer,
                                     in_flight)
                stats.seconds = time.perf_counter() - started
                if progress:
                    progress(stats)
            writer.wait()
        except OSError as e:
            # Staging a batch (its NDJSON, quarantine copies) hit the disk: the batch was not
            # committed, everything committed before it is intact.
            raise StoreError(f"cannot write the store ({e.strerror or e}); what was committed "
                             "is intact, free space and run ingest again to finish",
                             location=str(store.root)) from e
        except duckdb.IOException as e:
            raise StoreError(f"cannot write the store ({str(e).splitlines()[0]}); what was "
                             "committed is intact, run ingest again to finish",
                             location=str(store.root)) from e
        finally:
            batches.close()
            conn.close()
            if probe is not None:
                probe.close()
            try:
                writer.wait()
            finally:
                shutil.rmtree(store.tmp_dir, ignore_errors=True)
        stats.seconds = time.perf_counter() - started
    return stats


# ---------------------------------------------------------------------------------------------
# Producer: read, hash, decode. Runs one object ahead of DuckDB on a background thread.


def _produce(
    objects: Iterable[SourceObject], store: Store, stats: IngestStats, batch_bytes: int,
    max_object_bytes: int,
) -> Iterator[_Batch]:
    return ahead(_batches(objects, store, stats, batch_bytes, max_object_bytes), maxsize=1,
                 name="trailhound-reader")


def _batches(
    objects: Iterable[SourceObject], store: Store, stats: IngestStats, batch_bytes: int,
    max_object_bytes: int,
) -> Iterator[_Batch]:
    # The reader thread needs its own SQLite connection.
    from trailhound.store.manifest import Manifest

    manifest = Manifest(store.root / "manifest.sqlite")
    seen_names: set[str] = set()
    seen_sha: dict[str, str] = {}
    items: list[Pending] = []
    nbytes = 0
    fid = 0
    try:
        for obj in objects:
            stats.objects_seen += 1
            if obj.name in seen_names:
                continue
            seen_names.add(obj.name)
            known = manifest.lookup(obj.name)
            # An object that could never be read (failed download: no checksum) is tried
            # again; one that was read and found bad is not, until its version changes.
            never_read = known is not None and known[2] == "quarantined" and not known[1]
            if known and known[0] == obj.version and not never_read:
                stats.objects_unchanged += 1
                continue
            if obj.size and obj.size > max_object_bytes:
                # Refused before reading, not after: an 8 GB file must not pass through
                # memory to be found too large (compressed, it expands further still).
                data = None
                err = BadObject(f"object of {obj.size:,} bytes is larger than the limit of "
                                f"{max_object_bytes:,} bytes; not read")
            else:
                try:
                    data = obj.read()
                except OSError as e:
                    data = None
                    err = BadObject(f"cannot read object ({e.strerror or e})")
            sha = hashlib.sha256(data).hexdigest() if data is not None else ""
            stats.bytes_read += len(data or b"")
            fid += 1
            if data is None:
                items.append(Pending(fid, obj, sha, None, bad=err))
                continue
            if known and known[1] == sha:
                stats.objects_unchanged += 1  # touched, same bytes: nothing new
                continue
            same = seen_sha.get(sha) or manifest.source_with_sha(sha)
            if same and same != obj.name:
                items.append(Pending(fid, obj, sha, None, same_as=same))
                continue
            seen_sha[sha] = obj.name
            try:
                dec = decode(data, name=obj.name, max_bytes=max_object_bytes)
                items.append(Pending(fid, obj, sha, dec, data=data))
                nbytes += len(dec.array)
                stats.bytes_decoded += dec.raw_bytes
            except BadObject as e:
                items.append(Pending(fid, obj, sha, None, bad=e, data=data))
            if nbytes >= batch_bytes or len(items) >= 20000:
                yield _Batch(items, nbytes)
                items, nbytes = [], 0
        if items:
            yield _Batch(items, nbytes)
    finally:
        manifest.close()


# ---------------------------------------------------------------------------------------------
# Consumer: one batch through DuckDB, handed to the writer thread for Parquet + commit.


def _process(batch: _Batch, store: Store, conn: duckdb.DuckDBPyConnection, stats: IngestStats,
             max_record_bytes: int, writer: PartWriter, in_flight: pa.Table | None
             ) -> pa.Table:
    batch_id = uuid.uuid4().hex[:16]
    work = store.tmp_dir / f"batch-{batch_id}"
    work.mkdir(parents=True)
    try:
        res = run_batch(conn, batch.items, store, work, max_record_bytes=max_record_bytes,
                        in_flight=in_flight)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    objects, quarantine = account_batch(store, batch_id, batch.items, res, stats)
    ids = [t.select(["event_id", "h"]) for _, _, t in res.partitions]
    writer.submit(PendingCommit(batch_id, res.partitions, objects, quarantine))
    if ids:
        return pa.concat_tables(ids)
    return pa.table({"event_id": pa.array([], pa.string()), "h": pa.array([], pa.uint64())})


def account_batch(store: Store, batch_id: str, items: list[Pending], res: BatchResult,
                  stats: IngestStats) -> tuple[list[ObjectRow], list[QuarantineRow]]:
    """What a processed batch means for the manifest: each object's status and counts, the
    quarantine entries (copies of bad objects and refused records saved under quarantine/),
    and the run's statistics. One definition for both engines (the Spark ingest builds the
    same `BatchResult` from its executors' output)."""
    quarantine: list[QuarantineRow] = []
    objects: list[ObjectRow] = []
    for p in items:
        valid, kept = res.per_file.get(p.fid, (0, 0))
        entries = res.bad_records.get(p.fid, [])
        for br in entries:
            quarantine.append(QuarantineRow(p.obj.name, br.position, br.reason, None))
        # Repaired records were loaded (they are among `valid`); only refusals are `recs`.
        recs = [br for br in entries if not br.repaired]
        stats.records_repaired += len(entries) - len(recs)
        reason: str | None = None
        fmt = p.decoded.format if p.decoded else None
        if p.same_as is not None:
            status, reason = "same-as", f"same bytes as {p.same_as}"
        elif p.fid in res.object_bad:
            status, reason = "quarantined", res.object_bad[p.fid]
        elif valid == 0 and recs:
            status = "quarantined"
            reason = f"no CloudTrail records ({len(recs)} refused, first: {recs[0].reason})"
        elif valid == 0:
            status = "empty"
        else:
            status = "loaded"
        if status == "quarantined":
            saved = _save_object_copy(store, p)
            quarantine.append(QuarantineRow(p.obj.name, None, reason or "", saved))
        objects.append(
            ObjectRow(p.obj.name, p.obj.version, p.obj.size, p.sha256, status, fmt, kept,
                      valid - kept, len(recs), reason)
        )
        stats.records_read += valid + len(recs)
        stats.records_quarantined += len(recs)
        stats.duplicates += valid - kept
        stats.events_stored += kept
        if status == "loaded":
            stats.objects_loaded += 1
        elif status == "quarantined":
            stats.objects_quarantined += 1
        elif status == "empty":
            stats.objects_empty += 1
        else:
            stats.objects_same_content += 1
        p.data = None
    names = {p.fid: p.obj.name for p in items}
    saved = {f: list(recs) for f, recs in res.bad_records.items()}
    for f, recs in res.conflicts.items():
        stats.conflicts += len(recs)
        quarantine.extend(QuarantineRow(names[f], br.position, br.reason, None) for br in recs)
        saved.setdefault(f, []).extend(recs)
    _save_rejected_records(store, batch_id, items, saved)
    if len(stats.quarantine) < 1000:
        stats.quarantine.extend((q.source, q.position, q.reason) for q in quarantine[:1000])
    return objects, quarantine


def _save_rejected_records(store: Store, batch_id: str, items: list[Pending],
                           bad_records: dict[int, list[BadRecord]]) -> None:
    if not any(bad_records.values()):
        return
    names = {p.fid: p.obj.name for p in items}
    d = store.quarantine_dir / "records"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{batch_id}.ndjson", "wb") as fh:
        for f, recs in bad_records.items():
            for br in recs:
                fh.write(orjson.dumps({
                    "source": names.get(f), "position": br.position, "reason": br.reason,
                    "record": br.text[:65536].decode("utf-8", errors="replace"),
                }) + b"\n")


def _save_object_copy(store: Store, p: Pending) -> str | None:
    if p.data is None or len(p.data) > MAX_QUARANTINE_COPY:
        return None
    d = store.quarantine_dir / "objects"
    d.mkdir(parents=True, exist_ok=True)
    base = os.path.basename(p.obj.name.rstrip("/")) or "object"
    # The name is the source's (an S3 key may be 1,024 bytes): a file name holds 255. The
    # full name is in the manifest's quarantine row.
    if len(base.encode()) > 120:
        base = base.encode()[:60].decode(errors="ignore") + "..." + base.encode()[-40:].decode(
            errors="ignore")
    dest = d / f"{p.sha256[:16]}-{base}"
    if not dest.exists():
        tmp = dest.with_suffix(dest.suffix + ".tmp")
        tmp.write_bytes(p.data)
        os.replace(tmp, dest)
    return dest.relative_to(store.root).as_posix()
