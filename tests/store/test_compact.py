"""Compaction: many small parts of a partition become one, and nothing else changes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq

import cloudtrail as ct
from trailhound.store.compact import compact
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest


def _deliver(root: Path, n: int, records: list[dict]) -> None:
    path = root / f"111122223333_CloudTrail_us-east-1_20260319T{n:04d}Z_{n:016d}.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def _rows(st: Store) -> list[tuple]:
    conn = st.connect()
    try:
        return conn.execute("SELECT * EXCLUDE (source_object) FROM events "
                            "ORDER BY event_id").fetchall()
    finally:
        conn.close()


def test_small_parts_merge_into_one_sorted_part_with_the_same_events(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    st = Store(tmp_path / "store", create=True)
    for n in range(14):  # one ingest per delivered file, as a watch does
        _deliver(src, n, [ct.record("ListUsers", time=f"2026-03-19T{10 + n % 5}:{m:02d}:00Z")
                          for m in range(3)])
        ingest([str(src)], st)
    before = _rows(st)
    assert len(st.part_files()) == 14

    merges = compact(st, min_parts=12)

    assert len(merges) == 1 and len(merges[0].old) == 14 and merges[0].rows == 42
    assert len(st.part_files()) == 1
    assert _rows(st) == before
    times = pq.read_table(st.part_files()[0], columns=["event_time"])["event_time"].to_pylist()
    assert times == sorted(times)
    # Committed and on disk agree: nothing for `recover` to remove.
    assert st.recover() == 0


def test_redelivered_events_are_still_recognised_after_compaction(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    st = Store(tmp_path / "store", create=True)
    recs = [ct.record("ListUsers") for _ in range(13)]
    for n, r in enumerate(recs):
        _deliver(src, n, [r])
        ingest([str(src)], st)
    compact(st, min_parts=12)
    again = tmp_path / "again"
    again.mkdir()
    _deliver(again, 99, recs[:5])
    stats = ingest([str(again)], st)
    assert stats.duplicates == 5 and stats.events_stored == 0
    assert len(_rows(st)) == 13


def test_partitions_below_the_threshold_are_left_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    st = Store(tmp_path / "store", create=True)
    for n in range(3):
        _deliver(src, n, [ct.record("ListUsers")])
        ingest([str(src)], st)
    assert compact(st, min_parts=12) == []
    assert len(st.part_files()) == 3


def test_a_partition_merged_slice_by_slice_is_whole_and_in_time_then_id_order(
        tmp_path: Path) -> None:
    """Slices of 4 rows over 39 events, many sharing a second: the cuts fall inside runs of
    equal times, where only the event id orders them."""
    src = tmp_path / "src"
    src.mkdir()
    st = Store(tmp_path / "store", create=True)
    for n in range(13):
        _deliver(src, n, [ct.record("ListUsers", time=f"2026-03-19T{10 + (n * 7 + m) % 3}:00:00Z")
                          for m in range(3)])
        ingest([str(src)], st)
    before = _rows(st)

    merges = compact(st, min_parts=12, range_rows=4)

    assert len(merges) == 1 and merges[0].rows == 39
    assert _rows(st) == before
    # Read in file order (a parallel DuckDB scan returns row groups in any order).
    t = pq.read_table(st.part_files()[0], columns=["event_time", "event_id"])
    keys = list(zip(t["event_time"].to_pylist(), t["event_id"].to_pylist(), strict=True))
    assert keys == sorted(keys) and len(set(keys)) == 39
