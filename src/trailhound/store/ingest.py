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

import contextlib
import hashlib
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson

from trailhound.errors import StoreError
from trailhound.normalize import MAX_RECORD_BYTES, normalize_sql, select_event_columns
from trailhound.sources import SourceObject, discover
from trailhound.sources.decode import (
    DEFAULT_MAX_OBJECT_BYTES,
    BadObject,
    BadRecord,
    Decoded,
    decode,
    decode_strict,
)
from trailhound.store.engine import Store, new_connection, sql_literal
from trailhound.store.manifest import ObjectRow, QuarantineRow

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
    records_quarantined: int = 0
    bytes_read: int = 0  # stored (compressed) bytes
    bytes_decoded: int = 0  # decompressed bytes
    orphan_parts_removed: int = 0
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
class _Pending:
    """One object read and decoded, waiting in a batch."""

    fid: int
    obj: SourceObject
    sha256: str
    decoded: Decoded | None
    bad: BadObject | None = None
    data: bytes | None = None  # kept only until the batch is processed (for strict retries)
    same_as: str | None = None


@dataclass
class _Batch:
    items: list[_Pending]
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
) -> IngestStats:
    """Ingest every log object under `sources` into `store`; safe to re-run at any time."""
    stats = IngestStats()
    started = time.perf_counter()

    def skipped(name: str, why: str) -> None:
        stats.skipped[why] = stats.skipped.get(why, 0) + 1

    with store.writer_lock():
        stats.orphan_parts_removed = store.recover()
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        conn = new_connection(temp_dir=store.tmp_dir / "duckdb")
        source_iter = objects if objects is not None else discover(sources, skipped=skipped)
        batches = _produce(source_iter, store, stats, batch_bytes, max_object_bytes)
        try:
            for batch in batches:
                _process(batch, store, conn, stats, max_record_bytes)
                stats.seconds = time.perf_counter() - started
                if progress:
                    progress(stats)
        finally:
            batches.close()
            conn.close()
        stats.seconds = time.perf_counter() - started
    return stats


# ---------------------------------------------------------------------------------------------
# Producer: read, hash, decode. Runs one object ahead of DuckDB on a background thread.


def _produce(
    objects: Iterable[SourceObject], store: Store, stats: IngestStats, batch_bytes: int,
    max_object_bytes: int,
) -> Iterator[_Batch]:
    q: queue.Queue[_Batch | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def run() -> None:
        try:
            for b in _batches(objects, store, stats, batch_bytes, max_object_bytes):
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as e:  # surfaced in the consumer thread
            q.put(e)

    t = threading.Thread(target=run, name="trailhound-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # Drain so the producer can see `stop` and exit.
        while t.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)


def _batches(
    objects: Iterable[SourceObject], store: Store, stats: IngestStats, batch_bytes: int,
    max_object_bytes: int,
) -> Iterator[_Batch]:
    # The reader thread needs its own SQLite connection.
    from trailhound.store.manifest import Manifest

    manifest = Manifest(store.root / "manifest.sqlite")
    seen_names: set[str] = set()
    seen_sha: dict[str, str] = {}
    items: list[_Pending] = []
    nbytes = 0
    fid = 0
    try:
        for obj in objects:
            stats.objects_seen += 1
            if obj.name in seen_names:
                continue
            seen_names.add(obj.name)
            known = manifest.lookup(obj.name)
            if known and known[0] == obj.version:
                stats.objects_unchanged += 1
                continue
            try:
                data = obj.read()
            except OSError as e:
                data = None
                err = BadObject(f"cannot read object ({e.strerror or e})")
            sha = hashlib.sha256(data).hexdigest() if data is not None else ""
            stats.bytes_read += len(data or b"")
            fid += 1
            if data is None:
                items.append(_Pending(fid, obj, sha, None, bad=err))
                continue
            if known and known[1] == sha:
                stats.objects_unchanged += 1  # touched, same bytes: nothing new
                continue
            same = seen_sha.get(sha) or manifest.source_with_sha(sha)
            if same and same != obj.name:
                items.append(_Pending(fid, obj, sha, None, same_as=same))
                continue
            seen_sha[sha] = obj.name
            try:
                dec = decode(data, name=obj.name, max_bytes=max_object_bytes)
                items.append(_Pending(fid, obj, sha, dec, data=data))
                nbytes += len(dec.array)
                stats.bytes_decoded += dec.raw_bytes
            except BadObject as e:
                items.append(_Pending(fid, obj, sha, None, bad=e, data=data))
            if nbytes >= batch_bytes or len(items) >= 20000:
                yield _Batch(items, nbytes)
                items, nbytes = [], 0
        if items:
            yield _Batch(items, nbytes)
    finally:
        manifest.close()


# ---------------------------------------------------------------------------------------------
# Consumer: one batch through DuckDB into Parquet, then one manifest transaction.


def _process(batch: _Batch, store: Store, conn: duckdb.DuckDBPyConnection, stats: IngestStats,
             max_record_bytes: int) -> None:
    batch_id = uuid.uuid4().hex[:16]
    work = store.tmp_dir / f"batch-{batch_id}"
    work.mkdir(parents=True)
    quarantine: list[QuarantineRow] = []
    bad_records: dict[int, list[BadRecord]] = {}
    object_bad: dict[int, str] = {}

    conn.execute("CREATE OR REPLACE TEMP TABLE raw (f UBIGINT, src VARCHAR, i UBIGINT, "
                 "rec VARCHAR)")
    loadable = [p for p in batch.items if p.decoded is not None]
    for p in batch.items:
        if p.bad is not None:
            object_bad[p.fid] = p.bad.reason
    _load_raw(conn, loadable, work, object_bad, bad_records)

    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE norm AS "
        f"{normalize_sql('raw', max_record_bytes=max_record_bytes)}"
    )
    for f, i, reason in conn.execute(
        "SELECT f, i, reject FROM norm WHERE reject IS NOT NULL ORDER BY f, i"
    ).fetchall():
        bad_records.setdefault(int(f), []).append(BadRecord(f"record {i}", reason, b""))
    _fill_rejected_text(conn, bad_records)

    # Stored once: first occurrence inside the batch, and only if not stored before.
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE fresh AS SELECT * FROM norm WHERE reject IS NULL "
        "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY f, i) = 1"
    )
    existing = _existing_parts(conn, store)
    if existing:
        files = "[" + ", ".join(sql_literal(p) for p in existing) + "]"
        conn.execute(
            "DELETE FROM fresh WHERE event_id IN (SELECT event_id FROM "
            f"read_parquet({files}) WHERE event_id IN (SELECT event_id FROM fresh))"
        )
    per_file = {
        int(f): (int(valid), int(kept))
        for f, valid, kept in conn.execute(
            "SELECT n.f, count(*), count(fr.event_id) FROM norm n "
            "LEFT JOIN fresh fr ON fr.f = n.f AND fr.i = n.i "
            "WHERE n.reject IS NULL GROUP BY n.f"
        ).fetchall()
    }
    stored = int(conn.execute("SELECT count(*) FROM fresh").fetchone()[0])
    parts: list[tuple[str, int | None]] = []
    if stored:
        parts = _write_parts(conn, store, work, batch_id)

    objects: list[ObjectRow] = []
    for p in batch.items:
        valid, kept = per_file.get(p.fid, (0, 0))
        recs = bad_records.get(p.fid, [])
        for br in recs:
            quarantine.append(QuarantineRow(p.obj.name, br.position, br.reason, None))
        reason: str | None = None
        fmt = p.decoded.format if p.decoded else None
        if p.same_as is not None:
            status, reason = "same-as", f"same bytes as {p.same_as}"
        elif p.fid in object_bad:
            status, reason = "quarantined", object_bad[p.fid]
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
    _save_rejected_records(store, batch_id, batch, bad_records)
    store.manifest.commit_batch(batch_id, parts, objects, quarantine)
    stats.quarantine.extend((q.source, q.position, q.reason) for q in quarantine
                            if len(stats.quarantine) < 1000)
    for p in batch.items:
        p.data = None
    _rmtree(work)


def _load_raw(conn: duckdb.DuckDBPyConnection, items: list[_Pending], work: Path,
              object_bad: dict[int, str], bad_records: dict[int, list[BadRecord]]) -> None:
    """INSERT the batch's records into `raw`; on a parse error, split to find the culprit."""
    if not items:
        return
    try:
        _insert_lines(conn, items, work)
        return
    except duckdb.Error as e:
        first_error = str(e).splitlines()[0]
    if len(items) > 1:
        mid = len(items) // 2
        _load_raw(conn, items[:mid], work, object_bad, bad_records)
        _load_raw(conn, items[mid:], work, object_bad, bad_records)
        return
    # One object that DuckDB could not read: parse it record by record in Python.
    p = items[0]
    if p.decoded is not None and p.decoded.format == "parsed":
        object_bad[p.fid] = _duck_reason(first_error)
        return
    try:
        p.decoded = decode_strict(p.data or b"", name=p.obj.name)
    except BadObject as e:
        object_bad[p.fid] = e.reason
        return
    bad_records.setdefault(p.fid, []).extend(p.decoded.bad_records)
    good: list[_Pending] = [p]
    try:
        _insert_lines(conn, good, work)
    except duckdb.Error:
        # Valid for orjson but not for DuckDB (deep nesting, odd numbers): one record at a time.
        _insert_one_by_one(conn, p, work, bad_records)


def _insert_one_by_one(conn: duckdb.DuckDBPyConnection, p: _Pending, work: Path,
                       bad_records: dict[int, list[BadRecord]]) -> None:
    records = orjson.loads(p.decoded.array) if p.decoded else []
    for n, rec in enumerate(records):
        text = orjson.dumps(rec)
        single = _Pending(p.fid, p.obj, p.sha256, Decoded(b"[" + text + b"]", "parsed"))
        try:
            _insert_lines(conn, [single], work, first_index=n)
        except duckdb.Error as e:
            bad_records.setdefault(p.fid, []).append(
                BadRecord(f"record {n}", _duck_reason(str(e).splitlines()[0]), text))


def _insert_lines(conn: duckdb.DuckDBPyConnection, items: list[_Pending], work: Path,
                  first_index: int = 0) -> None:
    path = work / "lines.ndjson"
    longest = 0
    with open(path, "wb") as fh:
        for p in items:
            assert p.decoded is not None
            line = (b'{"f":' + str(p.fid).encode() + b',"s":' + orjson.dumps(p.obj.name)
                    + b',"r":' + p.decoded.array + b"}\n")
            longest = max(longest, len(line))
            fh.write(line)
    conn.execute(
        "INSERT INTO raw SELECT f, s, i + ?, rec FROM (SELECT f, s, unnest(r) AS rec, "
        "unnest(range(len(r))) AS i FROM read_json(?, format='newline_delimited', "
        "columns={'f': 'UBIGINT', 's': 'VARCHAR', 'r': 'JSON[]'}, "
        "maximum_object_size=?))",
        [first_index, str(path), max(longest + 1024, 16 * 1024 * 1024)],
    )


def _duck_reason(msg: str) -> str:
    msg = msg.replace("Invalid Input Error: ", "")
    # DuckDB names our staging file; the user cares about the object, named elsewhere.
    if "Malformed JSON" in msg and ":" in msg:
        msg = "malformed JSON:" + msg.rsplit(":", 1)[-1]
    return msg.strip()[:200]


def _existing_parts(conn: duckdb.DuckDBPyConnection, store: Store) -> list[str]:
    """Committed parts in the partitions this batch writes to: the only place a duplicate
    of one of its events can be, because a duplicate has the same account and eventTime."""
    keys = conn.execute("SELECT DISTINCT account, date FROM fresh").fetchall()
    out: list[str] = []
    for account, date in keys:
        d = store.events_dir / f"account={account}" / f"date={date}"
        if d.is_dir():
            out.extend(str(p) for p in sorted(d.glob("*.parquet")))
    return out


def _write_parts(conn: duckdb.DuckDBPyConnection, store: Store, work: Path, batch_id: str
                 ) -> list[tuple[str, int | None]]:
    staging = work / "parts"
    conn.execute(
        f"COPY (SELECT {select_event_columns()} FROM fresh ORDER BY account, date, event_time) "
        f"TO {sql_literal(str(staging))} (FORMAT parquet, COMPRESSION zstd, "
        f"PARTITION_BY (account, date), FILENAME_PATTERN 'part-{batch_id}-{{i}}', "
        "OVERWRITE_OR_IGNORE true)"
    )
    parts: list[tuple[str, int | None]] = []
    for src in sorted(staging.glob("account=*/date=*/*.parquet")):
        rel = src.relative_to(staging)
        dest = store.events_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        parts.append((dest.relative_to(store.root).as_posix(), None))
    return parts


def _fill_rejected_text(conn: duckdb.DuckDBPyConnection,
                        bad_records: dict[int, list[BadRecord]]) -> None:
    rows = conn.execute(
        "SELECT f, i, left(raw, 65536) FROM norm WHERE reject IS NOT NULL ORDER BY f, i"
    ).fetchall()
    texts = {(int(f), f"record {i}"): (t or "").encode() for f, i, t in rows}
    for f, recs in bad_records.items():
        for br in recs:
            if not br.text:
                br.text = texts.get((f, br.position), b"")


def _save_rejected_records(store: Store, batch_id: str, batch: _Batch,
                           bad_records: dict[int, list[BadRecord]]) -> None:
    if not any(bad_records.values()):
        return
    names = {p.fid: p.obj.name for p in batch.items}
    d = store.quarantine_dir / "records"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{batch_id}.ndjson", "wb") as fh:
        for f, recs in bad_records.items():
            for br in recs:
                fh.write(orjson.dumps({
                    "source": names.get(f), "position": br.position, "reason": br.reason,
                    "record": br.text[:65536].decode("utf-8", errors="replace"),
                }) + b"\n")


def _save_object_copy(store: Store, p: _Pending) -> str | None:
    if p.data is None or len(p.data) > MAX_QUARANTINE_COPY:
        return None
    d = store.quarantine_dir / "objects"
    d.mkdir(parents=True, exist_ok=True)
    base = os.path.basename(p.obj.name.rstrip("/")) or "object"
    dest = d / f"{p.sha256[:16]}-{base}"
    if not dest.exists():
        tmp = dest.with_suffix(dest.suffix + ".tmp")
        tmp.write_bytes(p.data)
        os.replace(tmp, dest)
    return dest.relative_to(store.root).as_posix()


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def open_store_for_ingest(path: str) -> Store:
    try:
        return Store(path, create=True)
    except OSError as e:
        raise StoreError(f"cannot open store ({e})", location=path) from None
