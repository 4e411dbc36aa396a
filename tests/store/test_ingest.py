"""Ingest into the Parquet store: counts, idempotence, duplicates, and bad input that never
stops the good."""

from __future__ import annotations

import gzip
import json

import pytest

import cloudtrail as ct
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest


def store_ids(store: Store) -> list[str]:
    conn = store.connect()
    return [r[0] for r in conn.execute("SELECT event_id FROM events ORDER BY 1").fetchall()]


def make_records(n: int, start: int = 0) -> list[dict]:
    return [
        ct.record("ListUsers", time=f"2026-03-19T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:"
                                   f"{i % 60:02d}Z", eventID=f"evt-{i:06d}")
        for i in range(start, start + n)
    ]


def test_ingest_counts_equal_unique_event_ids(tmp_path):
    recs = make_records(300)
    dupes = recs[10:20]  # the same events delivered again, in another file
    ct.write_aws_layout(tmp_path / "src", recs + dupes, per_file=40)
    st = Store(tmp_path / "store", create=True)
    stats = ingest([str(tmp_path / "src")], st)
    assert stats.events_stored == 300
    assert stats.duplicates == 10
    assert stats.records_read == 310
    assert store_ids(st) == sorted(r["eventID"] for r in recs)


def test_partitioned_by_account_and_date(tmp_path):
    ct.write_aws_layout(tmp_path / "src", make_records(5))
    ct.write_aws_layout(tmp_path / "src", [ct.record("ListUsers", account=ct.OTHER_ACCOUNT,
                                                     time="2026-03-20T01:00:00Z")],
                        account=ct.OTHER_ACCOUNT)
    st = Store(tmp_path / "store", create=True)
    ingest([str(tmp_path / "src")], st)
    parts = {p.parent.relative_to(st.events_dir).as_posix() for p in st.part_files()}
    assert parts == {"account=111122223333/date=2026-03-19",
                     "account=444455556666/date=2026-03-20"}
    conn = st.connect()
    assert conn.execute("SELECT count(DISTINCT account) FROM events").fetchone() == (2,)


def test_second_run_adds_nothing_and_reads_nothing(tmp_path):
    ct.write_aws_layout(tmp_path / "src", make_records(100), per_file=25)
    st = Store(tmp_path / "store", create=True)
    first = ingest([str(tmp_path / "src")], st)
    second = ingest([str(tmp_path / "src")], st)
    assert first.events_stored == 100
    assert second.events_stored == 0 and second.records_read == 0
    assert second.objects_unchanged == 4
    assert len(store_ids(st)) == 100


def test_incremental_new_files_only_and_cross_run_duplicates(tmp_path):
    src = tmp_path / "src"
    ct.write_aws_layout(src, make_records(50), stamp="20260319T1000Z")
    st = Store(tmp_path / "store", create=True)
    ingest([str(src)], st)
    # A later delivery holds 5 events already stored and 20 new ones.
    ct.write_aws_layout(src, make_records(5, 45) + make_records(20, 50), stamp="20260319T1005Z")
    stats = ingest([str(src)], st)
    assert (stats.events_stored, stats.duplicates, stats.objects_unchanged) == (20, 5, 1)
    assert len(store_ids(st)) == 70


def test_duplicates_across_batches_in_one_run(tmp_path):
    recs = make_records(200)
    ct.write_aws_layout(tmp_path / "src", recs, per_file=10, stamp="20260319T1000Z")
    # Re-delivered in other files (other order, so other bytes) later in the walk.
    ct.write_aws_layout(tmp_path / "src", recs[:50][::-1], per_file=10, stamp="20260319T1005Z")
    st = Store(tmp_path / "store", create=True)
    stats = ingest([str(tmp_path / "src")], st, batch_bytes=4096)  # many small batches
    assert stats.events_stored == 200 and stats.duplicates == 50
    assert len(store_ids(st)) == 200


def test_same_bytes_under_another_name_is_not_read_twice(tmp_path):
    paths = ct.write_aws_layout(tmp_path / "src", make_records(10))
    copy = tmp_path / "copy" / "again.json.gz"
    copy.parent.mkdir()
    copy.write_bytes(paths[0].read_bytes())
    st = Store(tmp_path / "store", create=True)
    stats = ingest([str(tmp_path / "src"), str(copy)], st)
    assert stats.events_stored == 10 and stats.objects_same_content == 1


def test_bad_input_is_quarantined_and_the_rest_loads(tmp_path):
    src = tmp_path / "src"
    ct.write_aws_layout(src, make_records(30))
    bad = src / "bad"
    bad.mkdir()
    good_gz = gzip.compress(json.dumps({"Records": make_records(400, 1000)}).encode())
    (bad / "truncated.json.gz").write_bytes(good_gz[: len(good_gz) // 2])
    (bad / "not-cloudtrail.json").write_text(json.dumps({"hello": "world"}))
    (bad / "bomb.json.gz").write_bytes(gzip.compress(b" " * (20 * 1024 * 1024), 9))
    (bad / "utf8.json").write_bytes(
        b'{"Records":[{"eventID":"u1","eventTime":"2026-03-19T10:00:00Z","x":"\xff"}]}')
    mixed = make_records(3, 2000)
    del mixed[1]["eventID"]
    del mixed[2]["eventTime"]
    (bad / "mixed.json").write_text(json.dumps({"Records": mixed}))
    huge = make_records(2, 3000)
    huge[0]["requestParameters"] = {"blob": "A" * (5 * 1024 * 1024)}
    (bad / "huge.json").write_text(json.dumps({"Records": huge}))
    st = Store(tmp_path / "store", create=True)
    stats = ingest([str(src)], st, max_object_bytes=8 * 1024 * 1024)
    reasons = {(s.rsplit("/", 1)[-1], p): r for s, p, r in stats.quarantine}
    assert "truncated gzip" in reasons[("truncated.json.gz", None)]
    assert "not CloudTrail" in reasons[("not-cloudtrail.json", None)]
    assert "gzip bomb" in reasons[("bomb.json.gz", None)]
    # Invalid UTF-8 in one field: repaired (U+FFFD), the record loaded, the original kept.
    assert reasons[("utf8.json", "record 0")].startswith("repaired: x: ")
    assert reasons[("mixed.json", "record 1")] == "record has no eventID"
    assert reasons[("mixed.json", "record 2")] == "record has no eventTime"
    assert "larger than" in reasons[("huge.json", "record 0")]
    # Good records of partly bad objects still load.
    ids = set(store_ids(st))
    assert {"evt-002000", "evt-003001"} <= ids
    assert len(ids) == 30 + 1 + 1 + 1
    assert stats.objects_quarantined == 3 and stats.records_repaired == 1
    # Quarantined objects are kept for inspection, refused records with their position.
    assert any((st.quarantine_dir / "objects").iterdir())
    lines = [json.loads(x) for f in (st.quarantine_dir / "records").iterdir()
             for x in f.read_text().splitlines()]
    assert {ln["position"] for ln in lines} >= {"record 1", "record 2", "record 0"}


def test_the_shared_fixtures_normalize_or_are_quarantined(tmp_path, fixtures_dir):
    """Every third-party record becomes an event or a quarantine entry: nothing vanishes."""
    src = tmp_path / "src"
    src.mkdir()
    total = 0
    for f in sorted((fixtures_dir / "stratus-detonations").glob("aws.*.json")):
        total += len(json.loads(f.read_text()))
        (src / f.name).write_bytes(f.read_bytes())
    panther = [json.loads(x)["record"] for x in
               (fixtures_dir / "panther-rule-tests/cloudtrail-rule-tests.ndjson")
               .read_text().splitlines() if x.strip()]
    total += len(panther)
    (src / "panther.ndjson").write_text("\n".join(json.dumps(r) for r in panther) + "\n")
    st = Store(tmp_path / "store", create=True)
    stats = ingest([str(src)], st)
    assert stats.records_read == total
    assert stats.events_stored + stats.duplicates + stats.records_quarantined == total
    assert stats.records_quarantined > 0  # Panther has minimal records without eventTime
    assert all(r for _, _, r in stats.quarantine)


def test_store_refuses_a_second_writer(tmp_path):
    from trailhound.errors import StoreError

    st = Store(tmp_path / "store", create=True)
    with st.writer_lock(), pytest.raises(StoreError, match="another trailhound"):
        ingest([str(tmp_path)], Store(tmp_path / "store"))


def test_same_event_id_with_other_content_is_reported(tmp_path):
    recs = make_records(20)
    ct.write_aws_layout(tmp_path / "src", recs, stamp="20260319T1000Z")
    tampered = json.loads(json.dumps(recs[5]))
    tampered["sourceIPAddress"] = "203.0.113.66"  # same eventID, other content
    same = json.loads(json.dumps(recs[6]))  # a plain re-delivery
    ct.write_aws_layout(tmp_path / "src", [tampered, same], stamp="20260319T1005Z")
    inside = make_records(2, 500)
    twin = json.loads(json.dumps(inside[0]))
    twin["eventName"] = "DeleteTrail"
    ct.write_aws_layout(tmp_path / "src", [*inside, twin], stamp="20260319T1010Z")
    st = Store(tmp_path / "store", create=True)
    stats = ingest([str(tmp_path / "src")], st, batch_bytes=2048)
    assert stats.events_stored == 22 and stats.duplicates == 3
    assert stats.conflicts == 2
    reasons = [r for _, _, r in stats.quarantine]
    assert sum("different content" in r for r in reasons) == 2
    # The first copy is what the store keeps.
    conn = st.connect()
    assert conn.execute("SELECT source_ip FROM events WHERE event_id = ?",
                        [recs[5]["eventID"]]).fetchone() == (recs[5]["sourceIPAddress"],)


def test_unreadable_object_is_tried_again_next_run(tmp_path):
    from trailhound.sources import SourceObject

    good = ct.write_aws_layout(tmp_path / "src", make_records(5))[0]
    attempts = {"n": 0}

    def flaky() -> bytes:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ConnectionResetError("connection reset by peer")
        return good.read_bytes()

    obj = SourceObject(name="s3://bucket/AWSLogs/x.json.gz", size=1, version='"etag-1"',
                       reader=flaky)
    st = Store(tmp_path / "store", create=True)
    first = ingest([], st, objects=[obj])
    assert first.objects_quarantined == 1 and first.events_stored == 0
    assert "cannot read object" in first.quarantine[0][2]
    second = ingest([], st, objects=[obj])
    assert second.events_stored == 5 and second.objects_unchanged == 0
    third = ingest([], st, objects=[obj])
    assert third.objects_unchanged == 1


def test_hostile_account_ids_cannot_name_folders(tmp_path):
    """recipientAccountId is log text: it must never become a path (too long, or ../)."""
    recs = make_records(3)
    recs[0]["recipientAccountId"] = "A" * 5000
    recs[1]["recipientAccountId"] = "../../../../tmp/escaped"
    recs[1]["userIdentity"]["accountId"] = "../x"
    ct.write_aws_layout(tmp_path / "src", recs)
    st = Store(tmp_path / "store", create=True)
    stats = ingest([str(tmp_path / "src")], st)
    assert stats.events_stored == 3
    parts = {p.parent.parent.name for p in st.part_files()}
    assert parts == {"account=unknown", "account=111122223333"}
    assert all(st.events_dir in p.parents for p in st.part_files())
    conn = st.connect()
    assert conn.execute("SELECT recipient_account_id FROM events WHERE event_id = ?",
                        [recs[1]["eventID"]]).fetchone() == ("../../../../tmp/escaped",)


def test_queries_after_ingest_can_spill_to_disk(tmp_path):
    """ingest empties <store>/tmp when it ends, and DuckDB creates only the last level of its
    spill folder: a connection opened afterwards must find the folder there (a 1 M-event hunt
    failed in its report step before this)."""
    from pathlib import Path

    ct.write_aws_layout(tmp_path / "src", make_records(50))
    st = Store(tmp_path / "store", create=True)
    ingest([str(tmp_path / "src")], st)
    assert not st.tmp_dir.exists()
    conn = st.connect()
    (spill,) = conn.execute("SELECT current_setting('temp_directory')").fetchone()
    assert Path(spill).is_dir() and st.root in Path(spill).parents
