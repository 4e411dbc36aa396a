"""Merge a partition's many small parts into one.

Every ingest batch writes one part per (account, day) it touches, so a watch polling every
minute leaves hundreds of small files per day; every query then opens all of them, and a
store read by many small files gets slower with every poll. Compaction rewrites the small
parts of a busy partition as one part, sorted by time (so readers skip by time range), and
swaps them in the manifest in one transaction. The old files are deleted after the commit;
a crash before that leaves them as orphans, which the next writer's `recover` removes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trailhound.store.engine import Store
from trailhound.store.writer import write_part

# A partition is compacted once it has this many parts under SMALL_ROWS rows; merged parts
# grow until they stop being small, so no row is rewritten more than a few times.
MIN_PARTS = 12
SMALL_ROWS = 250_000


@dataclass(frozen=True)
class Merge:
    partition: str
    new: str
    old: tuple[str, ...]
    rows: int


def compact(store: Store, *, min_parts: int = MIN_PARTS, small_rows: int = SMALL_ROWS,
            lock: bool = True) -> list[Merge]:
    """Compact every partition that needs it; returns what was merged. `lock=False` when the
    caller already holds the store's writer lock."""
    if lock:
        with store.writer_lock():
            return _compact(store, min_parts, small_rows)
    return _compact(store, min_parts, small_rows)


def _compact(store: Store, min_parts: int, small_rows: int) -> list[Merge]:
    by_partition: dict[str, list[str]] = {}
    for path, rows in store.manifest.part_rows():
        if rows is not None and rows < small_rows:
            by_partition.setdefault(path.rsplit("/", 1)[0], []).append(path)
    merges = []
    for partition, parts in sorted(by_partition.items()):
        if len(parts) < min_parts:
            continue
        tables = [pq.ParquetFile(store.root / p).read() for p in parts]
        table = pa.concat_tables(tables, promote_options="permissive")
        table = table.sort_by([("event_time", "ascending"), ("event_id", "ascending")])
        batch_id = "compact-" + uuid.uuid4().hex[:12]
        rel = f"{partition}/part-{batch_id}.parquet"
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        write_part(table, store.tmp_dir / f"{batch_id}.parquet", store.root / rel)
        store.manifest.replace_parts(batch_id, [(rel, table.num_rows)], parts)
        for p in parts:
            Path(store.root / p).unlink(missing_ok=True)
        merges.append(Merge(partition, rel, tuple(parts), table.num_rows))
    return merges



