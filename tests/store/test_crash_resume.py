"""kill -9 in the middle of an ingest, then run it again: the store equals one clean run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import cloudtrail as ct
from trailhound.store.engine import Store


def corpus(root):
    recs = []
    for i in range(6000):
        recs.append(ct.record("GetObject", source="s3.amazonaws.com",
                              time=f"2026-03-19T{(i // 600) % 24:02d}:{(i // 10) % 60:02d}:"
                                   f"{i % 60:02d}Z", eventID=f"evt-{i:06d}",
                              request={"bucketName": "b", "key": f"k/{i}" * 20}))
    recs += recs[100:160]  # duplicate deliveries
    for n in range(0, len(recs), 100):
        ct.write_aws_layout(root, recs[n:n + 100], stamp=f"20260319T{n:06d}Z")


def run_ingest(src, store, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "trailhound", "ingest", str(src), "--store", str(store),
         "--batch-mb", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def batches(store) -> int:
    try:
        with sqlite3.connect(store / "manifest.sqlite", timeout=1) as db:
            return db.execute("SELECT count(*) FROM batches").fetchone()[0]
    except sqlite3.Error:
        return 0


def content(store) -> list[tuple]:
    conn = Store(store).connect()
    return conn.execute("SELECT event_id, event_time, raw, account, date FROM events "
                        "ORDER BY event_id").fetchall()


def test_kill_then_resume_equals_clean_run(tmp_path):
    src = tmp_path / "src"
    corpus(src)
    clean = tmp_path / "clean"
    assert run_ingest(src, clean).wait(timeout=300) == 0
    expected = content(clean)
    assert len(expected) == 6000

    crashed = tmp_path / "crashed"
    killed = 0
    for wait_for in (1, 3):  # two kill points: after the first and after a later batch
        proc = run_ingest(src, crashed)
        deadline = time.time() + 120
        while batches(crashed) < wait_for and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        killed += proc.wait(timeout=60) == -signal.SIGKILL
    assert killed >= 1, "the ingest finished before it could be killed"
    assert run_ingest(src, crashed).wait(timeout=300) == 0
    assert content(crashed) == expected
    # And one more run changes nothing.
    assert run_ingest(src, crashed).wait(timeout=300) == 0
    assert content(crashed) == expected
