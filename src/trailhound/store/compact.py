"""Merge a partition's many small parts into one.

Every ingest batch writes one part per (account, day) it touches, so a watch polling every
minute leaves hundreds of small files per day; every query then opens all of them, and a
store read by many small files gets slower with every poll. Compaction rewrites the small
parts of a busy partition as one part, sorted by time (so readers skip by time range), and
swaps them in the manifest in one transaction. The old files are deleted after the commit;
a crash before that leaves them as orphans, which the next writer's `recover` removes.

The merge is streamed: DuckDB sorts one slice of the partition at a time and the part is
written a batch at a time. A busy day of a large account is millions of rows, several GB as
Arrow tables; held whole, one compaction would cost more memory than the whole hunt.
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailhound.store.engine import Store, new_connection
from trailhound.store.writer import open_part

# A partition is compacted once it has this many parts under SMALL_ROWS rows; merged parts
# grow until they stop being small, so no row is rewritten more than a few times.
MIN_PARTS = 12
SMALL_ROWS = 250_000
# Rows per batch (and row group) of a merged part, and per slice sorted at once.
BATCH_ROWS = 65_536
RANGE_ROWS = 100_000


@dataclass(frozen=True)
class Merge:
    partition: str
    new: str
    old: tuple[str, ...]
    rows: int


def compact(store: Store, *, min_parts: int = MIN_PARTS, small_rows: int = SMALL_ROWS,
            range_rows: int = RANGE_ROWS, lock: bool = True) -> list[Merge]:
    """Compact every partition that needs it; returns what was merged. `lock=False` when the
    caller already holds the store's writer lock."""
    if lock:
        with store.writer_lock():
            return _compact(store, min_parts, small_rows, range_rows)
    return _compact(store, min_parts, small_rows, range_rows)


def _compact(store: Store, min_parts: int, small_rows: int, range_rows: int) -> list[Merge]:
    by_partition: dict[str, list[str]] = {}
    for path, rows in store.manifest.part_rows():
        if rows is not None and rows < small_rows:
            by_partition.setdefault(path.rsplit("/", 1)[0], []).append(path)
    merges = []
    for partition, parts in sorted(by_partition.items()):
        if len(parts) < min_parts:
            continue
        batch_id = "compact-" + uuid.uuid4().hex[:12]
        rel = f"{partition}/part-{batch_id}.parquet"
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        rows = _merge(store, parts, store.tmp_dir / f"{batch_id}.parquet", store.root / rel,
                      range_rows)
        store.manifest.replace_parts(batch_id, [(rel, rows)], parts)
        for p in parts:
            Path(store.root / p).unlink(missing_ok=True)
        merges.append(Merge(partition, rel, tuple(parts), rows))
    return merges


def _merge(store: Store, parts: list[str], tmp: Path, dest: Path, range_rows: int) -> int:
    """`parts` as one part at `dest`, sorted by (event_time, event_id); returns its rows.

    Sorted a slice at a time: the keys alone are sorted to cut the partition into slices of
    `range_rows` rows, then each slice is read (the parts' time statistics skip most of what
    is outside it), sorted and written. DuckDB cannot sort a whole busy day of wide rows
    within a small memory limit; a slice it can. Ingest never stores an event without a
    time or an id, so the (time, id) order is total."""
    files = [str(store.root / p) for p in parts]
    # Parts written by different versions may differ by a column: the union of them all.
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    cols = ", ".join('"' + name.replace('"', '""') + '"' for name in schema.names)
    src = "read_parquet($files, union_by_name = true, hive_partitioning = false)"
    conn = new_connection(threads=1, temp_dir=store.tmp_dir / "duckdb")
    rows = 0
    try:
        cuts = conn.sql(f"""
            SELECT event_time, event_id FROM (
                SELECT event_time, event_id,
                       row_number() OVER (ORDER BY event_time, event_id) - 1 AS k
                FROM {src})
            WHERE k > 0 AND k % {int(range_rows)} = 0 ORDER BY k""",
            params={"files": files}).fetchall()
        bounds = [None, *cuts, None]
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open_part(tmp, schema) as out:
            for lo, hi in itertools.pairwise(bounds):
                where, params = _slice(lo, hi)
                # A relation, not an executed result: that would materialise the rows twice.
                reader = conn.sql(
                    f"SELECT {cols} FROM {src} WHERE {where} ORDER BY event_time, event_id",
                    params={"files": files, **params}).to_arrow_reader(BATCH_ROWS)
                for batch in reader:
                    out.write_batch(batch.cast(schema))
                    rows += batch.num_rows
    finally:
        conn.close()
    os.replace(tmp, dest)
    return rows


def _slice(lo: tuple | None, hi: tuple | None) -> tuple[str, dict]:
    """Rows with lo <= (event_time, event_id) < hi. The plain time bounds are redundant but
    are what DuckDB pushes into the Parquet reader to skip row groups."""
    where, params = ["true"], {}
    if lo is not None:
        where.append("event_time >= $lo_t AND (event_time > $lo_t OR event_id >= $lo_id)")
        params |= {"lo_t": lo[0], "lo_id": lo[1]}
    if hi is not None:
        where.append("event_time <= $hi_t AND (event_time < $hi_t OR event_id < $hi_id)")
        params |= {"hi_t": hi[0], "hi_id": hi[1]}
    return " AND ".join(where), params
