"""kill -9 a real `python -m trailhound ingest` at ten different points, resuming after each;
the final store equals one clean run's: same events (id, time, raw record, partition), same
manifest totals, same quarantine, and no part file that no committed batch owns.

No hook is added to src: the kill points are found by watching what ingest leaves on disk
(the staging folder of a batch, a Parquet part moved into place but not yet committed in the
manifest, the manifest's batch count growing), polled every 2 ms. Batch sizes
differ between runs (1 and 2 MB), so the same objects land in different batches after a
resume. The corpus holds duplicates and a few bad objects, so quarantine and de-duplication
are crossed by the kills too.
"""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import cloudtrail as ct
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

pytestmark = pytest.mark.slow


# ~14 batches of 1 MB: the ten kills commit ~8 of them between them (a timed kill on a fast
# machine, two or three), so the last points still find a batch to interrupt (9,000 events,
# 9 batches, were sometimes all in before the last kill).
EVENTS = 13_500


def corpus(root: Path) -> None:
    recs = []
    for i in range(EVENTS):
        recs.append(ct.record(
            "GetObject", source="s3.amazonaws.com",
            # Five days round-robin: every batch writes five partitions, so the window between
            # a part moved into place and its batch's commit is wide enough to hit.
            time=f"2026-03-{15 + i % 5}T{(i // 600) % 24:02d}:{(i // 10) % 60:02d}:"
                 f"{i % 60:02d}Z", eventID=f"evt-{i:06d}",
            request={"bucketName": "b", "key": f"k/{i}" * 20}))
    recs += recs[100:160] + recs[5000:5030]  # duplicate deliveries, some batches later
    for n in range(0, len(recs), 100):
        ct.write_aws_layout(root, recs[n:n + 100], stamp=f"20260319T{n:06d}Z")
    day = next(root.rglob("*.json.gz")).parent
    (day / "zz_truncated.json.gz").write_bytes(gzip.compress(b'{"Records":[{"eventID":"x"')[:30])
    (day / "zz_not_cloudtrail.json").write_bytes(b'{"hello": "world"}')
    (day / "zz_bad_record.json").write_bytes(
        b'{"Records":[{"eventID":"no-time"},{"eventID":"t1","eventTime":"2026-03-19T01:00:00Z"}]}')


def start(src: Path, store: Path, batch_mb: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "trailhound", "ingest", str(src), "--store", str(store),
         "--batch-mb", str(batch_mb)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def committed(store: Path) -> tuple[int, set[str]]:
    """(batches, part paths) committed in the manifest; (0, {}) while it does not exist."""
    try:
        with sqlite3.connect(f"file:{store / 'manifest.sqlite'}?mode=ro", uri=True,
                             timeout=1) as db:
            n = db.execute("SELECT count(*) FROM batches").fetchone()[0]
            return n, {r[0] for r in db.execute("SELECT path FROM parts")}
    except sqlite3.Error:
        return 0, set()


def uncommitted_part(store: Path) -> bool:
    """A Parquet part is in place under events/ but its batch is not in the manifest yet."""
    parts = {p.relative_to(store).as_posix() for p in store.glob("events/*/*/*.parquet")}
    return bool(parts - committed(store)[1])


def staging(store: Path) -> bool:
    return any((store / "tmp").glob("batch-*"))


def after_batches(k: int) -> Callable[[Path, int], bool]:
    def cond(store: Path, before: int) -> bool:
        return committed(store)[0] >= before + k
    return cond


# (name, batch MB, condition on (store, batches committed before this run)); None: a delay.
POINTS: list[tuple[str, int, Callable[[Path, int], bool] | float]] = [
    ("while starting up", 1, 0.3),
    ("after the first batch commits", 1, after_batches(1)),
    ("part written, batch not committed", 1, lambda s, b: uncommitted_part(s)),
    ("after two batches commit", 1, after_batches(2)),
    ("batch staged in tmp/", 1, lambda s, b: staging(s)),
    ("after one more batch (2 MB batches)", 2, after_batches(1)),
    ("part written, not committed (2 MB)", 2, lambda s, b: uncommitted_part(s)),
    ("half a second in (2 MB)", 2, 0.5),
    ("after one more batch", 1, after_batches(1)),
    ("part written, not committed", 1, lambda s, b: uncommitted_part(s)),
]


def snapshot(store_dir: Path) -> dict[str, object]:
    st = Store(store_dir)
    try:
        conn = st.connect()
        events = conn.execute("SELECT event_id, event_time, raw, account, date FROM events "
                              "ORDER BY event_id").fetchall()
        conn.close()
        with sqlite3.connect(store_dir / "manifest.sqlite") as db:
            objects = sorted(db.execute("SELECT source, status, events, duplicates, rejected, "
                                        "reason FROM objects").fetchall())
            quarantine = sorted(db.execute("SELECT source, position, reason FROM quarantine"
                                           ).fetchall())
        on_disk = {p.relative_to(store_dir).as_posix() for p in st.part_files()}
        assert on_disk == st.manifest.committed_parts(), "a part no committed batch owns"
    finally:
        st.close()
    return {"events": events, "objects": objects, "quarantine": quarantine}


def test_kill_at_ten_points_then_resume_equals_clean_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    corpus(src)
    clean_dir = tmp_path / "clean"
    ingest([str(src)], Store(clean_dir, create=True), batch_bytes=1024 * 1024)
    expected = snapshot(clean_dir)
    assert len(expected["events"]) == EVENTS + 1  # + the good record of zz_bad_record

    crashed = tmp_path / "crashed"
    killed: list[str] = []
    for name, batch_mb, cond in POINTS:
        before = committed(crashed)[0]
        proc = start(src, crashed, batch_mb)
        deadline = time.monotonic() + 120
        if isinstance(cond, float):
            time.sleep(cond)
        else:
            while proc.poll() is None and time.monotonic() < deadline and not cond(
                    crashed, before):
                time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=60)
        if code == -signal.SIGKILL:
            killed.append(name)
        else:
            assert code == 0, proc.stderr.read().decode() if proc.stderr else code
    # All ten points must really have been hit, or the test proves less than it claims.
    assert len(killed) == len(POINTS), f"finished before the kill at: " \
        f"{[n for n, _, _ in POINTS if n not in killed]}"
    proc = start(src, crashed, 1)
    assert proc.wait(timeout=300) == 0
    assert snapshot(crashed) == expected
    # One more run reads nothing and changes nothing.
    assert start(src, crashed, 2).wait(timeout=300) == 0
    assert snapshot(crashed) == expected
