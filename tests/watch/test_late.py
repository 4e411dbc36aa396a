"""A delivery older than the watch state keeps is still judged exactly: the state is rebuilt
from the store, and the alerts equal a batch detection's."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import orjson

import cloudtrail as ct
from trailhound.cli import main
from trailhound.rules import detect, load_rules
from trailhound.store.engine import Store
from watch_state import assert_book_keeps_ids_apart


def _deliver(folder: Path, stamp: str, records: list[dict]) -> None:
    path = folder / f"111122223333_CloudTrail_us-east-1_{stamp}_{stamp[-5:-1]}abcdefabcd.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def _poll(inbox: Path, store: Path, out: Path) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["watch", str(inbox), "--store", str(store), "--once", "--out", str(out)])
    assert code == 0, err.getvalue()
    return err.getvalue()


def test_late_delivery_rebuilds_and_stays_exact(tmp_path: Path) -> None:
    inbox, store, out = tmp_path / "inbox", tmp_path / "store", tmp_path / "out"
    inbox.mkdir()
    key = ct.iam_user_identity("ci-deploy", "AKIALATE000000000001")
    _deliver(inbox, "20260319T1005Z", [
        ct.get_caller_identity(identity=key, time="2026-03-19T10:00:00Z",
                               ua="TruffleHog/3.88.7")])
    assert "state rebuilt" not in _poll(inbox, store, out).split("poll 1")[-1]
    # Two days late: older than anything the state keeps.
    _deliver(inbox, "20260319T1010Z", [
        ct.record("ListBuckets", source="s3.amazonaws.com", identity=key,
                  time="2026-03-17T10:00:00Z", ua="TruffleHog/3.88.7")])
    log = _poll(inbox, store, out)
    assert "state rebuilt" in log

    st = Store(store)
    conn = st.connect()
    batch = detect(conn, load_rules([]))
    # Read while the connection is open: DuckDB's detect keeps the ids in it.
    expected = sorted((a.rule_id, tuple(a.event_ids)) for a in batch.alerts)
    conn.close()
    st.close()
    watched = [orjson.loads(x) for x in (out / "alerts.ndjson").read_bytes().splitlines()]
    assert sorted((a["rule_id"], tuple(a["event_ids"])) for a in watched) == expected
    assert watched
    assert_book_keeps_ids_apart(store)


def test_one_forged_future_timestamp_does_not_make_every_later_poll_late(tmp_path: Path) -> None:
    inbox, store, out = tmp_path / "inbox", tmp_path / "store", tmp_path / "out"
    inbox.mkdir()
    honest = [ct.record("ListUsers", time=f"2026-03-19T10:{m:02d}:00Z") for m in range(0, 50, 5)]
    forged = ct.record("ListUsers", time="2026-03-19T22:00:00Z")  # 12 h ahead of the rest
    _deliver(inbox, "20260319T1055Z", [*honest, forged])
    _poll(inbox, store, out)
    _deliver(inbox, "20260319T1105Z", [ct.record("ListRoles", time="2026-03-19T11:00:00Z")])
    assert "state rebuilt" not in _poll(inbox, store, out)
