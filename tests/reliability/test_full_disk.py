"""A full disk during ingest: one clear line and exit 2, a store still readable and
consistent, and a second ingest after space is freed that completes to a clean run's result.

The store lives on an 8 MB tmpfs mounted by the test (root only; skipped otherwise, with the
reason), mostly filled by a ballast file so the ingest runs out of space part way: in the
Parquet writer, the manifest, DuckDB's spill folder or the quarantine copies, wherever it
happens first. The disk fills at several levels of ballast so more than one of those places is
hit.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudtrail as ct
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a size-capped tmpfs (mount -t tmpfs -o size=8m)")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def corpus(root: Path, first: int, count: int) -> None:
    recs = [ct.record("GetObject", source="s3.amazonaws.com", eventID=f"evt-{i:06d}",
                      time=f"2026-03-19T{(i // 600) % 24:02d}:{(i // 10) % 60:02d}:"
                           f"{i % 60:02d}Z",
                      # Random-looking text: Parquet cannot compress it away.
                      request={"bucketName": "b", "key": os.urandom(200).hex()})
            for i in range(first, first + count)]
    for n in range(0, len(recs), 200):
        ct.write_aws_layout(root, recs[n:n + 200], stamp=f"20260319T{first + n:06d}Z")
    (root / "bad.json").write_bytes(b"not json at all " * 100)  # a quarantine copy to write


def run(src: Path, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trailhound", "ingest", str(src), "--store", str(store),
         "--batch-mb", "1"], capture_output=True, text=True, timeout=300)


def events(store: Path) -> list[tuple]:
    """The store's events, opened as detect opens it; its committed parts all exist."""
    st = Store(store)
    try:
        conn = st.connect()
        rows = conn.execute("SELECT event_id, raw FROM events ORDER BY event_id").fetchall()
        conn.close()
        on_disk = {p.relative_to(store).as_posix() for p in st.part_files()}
        assert st.manifest.committed_parts() <= on_disk, "a committed part is missing"
    finally:
        st.close()
    return rows


FREE_KB = [256, 4000]
@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple]]:
    """The logs (1,000 events in a/, 5,000 in b/) and a clean run's events."""
    root = tmp_path_factory.mktemp("full-disk")
    src = root / "src"
    corpus(src / "a", 0, 1000)
    corpus(src / "b", 1000, 5000)
    clean = root / "clean"
    ingest([str(src)], Store(clean, create=True), batch_bytes=1024 * 1024)
    return src, events(clean)


@pytest.fixture
def filled(small_disk: Path, source: tuple[Path, list[tuple]], request: pytest.FixtureRequest
           ) -> tuple[Path, Path, list[tuple], list[tuple], subprocess.CompletedProcess[str]]:
    """A store holding the first 1,000 events, then an ingest of 5,000 more on a disk with
    `free_kb` left. Returns (src, store, events before, clean run's events, the failed run)."""
    src, expected = source
    store = small_disk / "store"
    assert run(src / "a", store).returncode == 0
    before = events(store)
    stat = os.statvfs(small_disk)
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - request.param * 1024))
    failed = run(src, store)
    return src, store, before, expected, failed


@pytest.mark.parametrize("filled", FREE_KB, indirect=True)
def test_full_disk_leaves_a_readable_store_and_resumes(filled, small_disk: Path) -> None:
    src, store, before, expected, failed = filled
    assert failed.returncode != 0, "the disk was not full enough to fail the ingest"
    # Readable while still full, as detect opens it: what was there, plus whole batches only.
    during = events(store)
    assert set(before) <= set(during) <= set(expected)
    with sqlite3.connect(store / "manifest.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    (small_disk / "ballast").unlink()
    r = run(src, store)
    assert r.returncode == 0, r.stderr[-2000:]
    assert events(store) == expected


@pytest.mark.parametrize("filled", [256], indirect=True)
def test_full_disk_is_one_line_and_exit_2(filled) -> None:
    *_, failed = filled
    assert failed.returncode == 2, (failed.returncode, failed.stderr[-1500:])
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trailhound: error:"), failed.stderr[-1500:]
    assert "space" in lines[0].lower() or "full" in lines[0].lower(), lines[0]
