"""Executor side of the Spark ingest: log objects' bytes -> normalized event rows.

Runs inside Spark's Python workers as an Arrow UDF (`pyspark.sql.functions.arrow_udf`, no
pandas). Each call gets a batch of objects (id, name, bytes) and returns, per object, one
struct: what the object is (checksum, format, why it is unreadable), its events, and its
refused records. The work is the DuckDB ingest's own: `sources.decode` and
`store.batch.normalize_items` over an in-process DuckDB, so both engines turn the same bytes
into the same rows, refuse the same records for the same reasons, and there is one definition
of every column. De-duplication and writing are Spark's (see `spark/ingest.py`).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa

from trailhound.normalize import COLUMNS

# Decoded JSON handed to DuckDB at once inside a worker: bounds a worker's memory whatever
# the size of the Arrow batch Spark sends.
SUB_BATCH_BYTES = 64 * 1024 * 1024
RECORD_TEXT_LIMIT = 65536

EVENT_FIELDS: list[pa.Field] = [
    pa.field("i", pa.int64()),
    *[pa.field(c.name, c.arrow_type) for c in COLUMNS],
    pa.field("account", pa.string()),
    pa.field("date", pa.date32()),
]
BAD_FIELDS: list[pa.Field] = [
    pa.field("position", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("text", pa.string()),
]
RESULT_TYPE = pa.struct([
    pa.field("sha256", pa.string()),
    pa.field("format", pa.string()),
    pa.field("bad", pa.string()),
    pa.field("raw_bytes", pa.int64()),
    pa.field("n_events", pa.int64()),
    pa.field("events", pa.list_(pa.struct(EVENT_FIELDS))),
    pa.field("refused", pa.list_(pa.struct(BAD_FIELDS))),
])


def spark_result_ddl() -> str:
    """RESULT_TYPE as Spark DDL (the UDF's declared return type)."""
    from trailhound.spark.store import SPARK_TYPES

    events = ", ".join(["i: bigint", *[f"{c.name}: {SPARK_TYPES[c.sql_type]}" for c in COLUMNS],
                        "account: string", "date: date"])
    return ("struct<sha256: string, format: string, bad: string, raw_bytes: bigint, "
            "n_events: bigint, "
            f"events: array<struct<{events}>>, "
            "refused: array<struct<position: string, reason: string, text: string>>>")


_CONN: dict[str, Any] = {}


def _connection() -> Any:
    """One DuckDB per Python worker, single-threaded: Spark runs one task per core already."""
    if "c" not in _CONN:
        from trailhound.store.engine import new_connection

        _CONN["c"] = new_connection(memory_limit="768MB", threads=1)
    return _CONN["c"]


def process_objects(fids: list[int], names: list[str], contents: list[bytes | None], *,
                    max_object_bytes: int, max_record_bytes: int) -> pa.Array:
    """One result struct per object, in input order (the UDF's contract)."""
    from trailhound.sources.base import SourceObject
    from trailhound.sources.decode import BadObject, decode
    from trailhound.store.batch import Pending

    items: list[Pending] = []
    meta: dict[int, dict[str, Any]] = {}
    for f, name, data in zip(fids, names, contents, strict=True):
        data = data or b""
        sha = hashlib.sha256(data).hexdigest()
        obj = SourceObject(name=name, size=len(data), version="", reader=lambda d=data: d)
        try:
            dec = decode(data, name=name, max_bytes=max_object_bytes)
            items.append(Pending(f, obj, sha, dec, data=data))
            meta[f] = {"sha256": sha, "format": dec.format, "bad": None,
                       "raw_bytes": dec.raw_bytes}
        except BadObject as e:
            items.append(Pending(f, obj, sha, None, bad=e, data=data))
            meta[f] = {"sha256": sha, "format": None, "bad": e.reason, "raw_bytes": 0}

    events: dict[int, list[pa.Table]] = {}
    refused: dict[int, list[dict[str, str]]] = {}
    for group in _groups(items):
        _normalize(group, meta, events, refused, max_record_bytes)

    empty_events = pa.table({f.name: pa.array([], f.type) for f in EVENT_FIELDS})
    out_events: list[pa.Table] = []
    offsets = [0]
    for f in fids:
        t = pa.concat_tables(events[f]) if f in events else empty_events
        out_events.append(t)
        offsets.append(offsets[-1] + t.num_rows)
    flat = pa.concat_tables([empty_events, *out_events]).combine_chunks()
    struct = pa.StructArray.from_arrays([flat.column(f.name).combine_chunks()
                                         for f in EVENT_FIELDS], fields=EVENT_FIELDS)
    event_lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), struct)
    refused_lists = pa.array([refused.get(f, []) for f in fids],
                             pa.list_(pa.struct(BAD_FIELDS)))
    return pa.StructArray.from_arrays(
        [pa.array([meta[f]["sha256"] for f in fids], pa.string()),
         pa.array([meta[f]["format"] for f in fids], pa.string()),
         pa.array([meta[f]["bad"] for f in fids], pa.string()),
         pa.array([meta[f]["raw_bytes"] for f in fids], pa.int64()),
         pa.array([b - a for a, b in pairwise(offsets)], pa.int64()),
         event_lists, refused_lists],
        fields=list(RESULT_TYPE))


def _groups(items: list[Any]) -> list[list[Any]]:
    out: list[list[Any]] = []
    cur: list[Any] = []
    size = 0
    for p in items:
        cur.append(p)
        size += len(p.decoded.array) if p.decoded is not None else 0
        if size >= SUB_BATCH_BYTES:
            out.append(cur)
            cur, size = [], 0
    if cur:
        out.append(cur)
    return out


def _normalize(group: list[Any], meta: dict[int, dict[str, Any]],
               events: dict[int, list[pa.Table]], refused: dict[int, list[dict[str, str]]],
               max_record_bytes: int) -> None:
    from trailhound.normalize import select_event_columns
    from trailhound.store.batch import normalize_items

    conn = _connection()
    work = Path(tempfile.mkdtemp(prefix="trailhound-spark-"))
    try:
        object_bad, bad_records = normalize_items(conn, group, work,
                                                  max_record_bytes=max_record_bytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for p in group:  # a strict re-read after a failed fast path changes the format
        if p.decoded is not None:
            meta[p.fid]["format"] = p.decoded.format
    for f, reason in object_bad.items():
        meta[f]["bad"] = reason
    for f, recs in bad_records.items():
        refused.setdefault(f, []).extend(
            {"position": r.position, "reason": r.reason,
             "text": r.text[:RECORD_TEXT_LIMIT].decode("utf-8", errors="replace")}
            for r in recs)
    table = conn.sql(
        f"SELECT f, i, {select_event_columns()} FROM norm WHERE reject IS NULL ORDER BY f, i"
    ).to_arrow_table()
    if not table.num_rows:
        return
    fcol = table.column("f").to_pylist()
    table = table.drop_columns(["f"]).cast(pa.schema(EVENT_FIELDS))
    start = 0
    for n in range(1, len(fcol) + 1):
        if n == len(fcol) or fcol[n] != fcol[start]:
            events.setdefault(int(fcol[start]), []).append(table.slice(start, n - start))
            start = n
