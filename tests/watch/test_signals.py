"""SIGINT and SIGTERM stop a real `trailhound watch` process cleanly, and it resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import cloudtrail as ct


def _deliver(folder: Path, n: int, records: list[dict]) -> None:
    import gzip
    import json

    path = folder / f"111122223333_CloudTrail_us-east-1_20260319T10{n:02d}Z_{n:016d}.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def _start(inbox: Path, store: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "trailhound", "watch", str(inbox), "--store", str(store),
         "--out", str(out), "--interval", "1s", "--no-sigma"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_polls(store: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the state exists and has seen a poll (stderr is read only after exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        if (store / "incidents.json").exists() or (store / "watch" / "state.duckdb").exists():
            time.sleep(2.5)  # a couple of 1 s polls
            return
        time.sleep(0.2)
    raise AssertionError("watch did not start")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_writes_outputs_and_the_next_start_resumes(
        tmp_path: Path, sig: signal.Signals) -> None:
    inbox, store, out = tmp_path / "inbox", tmp_path / "store", tmp_path / "out"
    inbox.mkdir()
    _deliver(inbox, 0, [ct.record("ListUsers", time=f"2026-03-19T10:0{m}:00Z")
                        for m in range(5)])
    proc = _start(inbox, store, out)
    _wait_for_polls(store, proc)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert code == 0, err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    # The full contract outputs were written on the way out.
    for name in ("incidents.json", "alerts.ndjson", "report.md", "report.html"):
        assert (out / name).exists(), name
    assert orjson.loads((out / "incidents.json").read_bytes())["events_analysed"] == 5

    # Resumed: the old file is not read again, the new one is.
    _deliver(inbox, 1, [ct.record("ListRoles", time="2026-03-19T10:10:00Z")])
    r = subprocess.run([sys.executable, "-m", "trailhound", "watch", str(inbox), "--store",
                        str(store), "--once", "--no-sigma"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "1 new objects · 1 events" in r.stderr and "state rebuilt" not in r.stderr
