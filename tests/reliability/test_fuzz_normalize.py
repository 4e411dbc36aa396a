"""Property-based fuzzing of normalization and of the whole ingest on hostile records.

CloudTrail records as AWS documents them (tests/cloudtrail.py), with any field removed,
retyped, made huge or nested deeply, go through:

1. `normalize.records_relation` (the SQL ingest uses): every record gives exactly one row,
   which is either an event (eventID and eventTime set) or carries a `reject` reason.
2. The real ingest, objects on disk in every layout (some gzipped, some cut short): no
   exception, no hang, and the counts add up, per object and in total:
   records_read == events_stored + duplicates + records_quarantined, the store holds exactly
   `events_stored` rows, every object is in the manifest with a status, and every object or
   record refused is in the quarantine with a reason. Nothing is dropped silently.
"""

from __future__ import annotations

import copy
import gzip
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cloudtrail as ct
from reliability.helpers import time_limit
from trailhound.normalize import records_relation
from trailhound.store.engine import Store, new_connection
from trailhound.store.ingest import ingest

KNOWN_REJECTS = ("record larger than", "record is not a JSON object", "record has no eventID",
                 "record has no eventTime", "eventTime is not an ISO-8601 timestamp")


def base_records() -> list[dict[str, Any]]:
    """One of each shape the normalizer lifts fields from."""
    return [
        ct.record("ListUsers"),
        ct.get_caller_identity(identity=ct.assumed_role_identity()),
        ct.create_access_key("web-admin", "AKIANEWKEY0000000001"),
        ct.assume_role("arn:aws:iam::444455556666:role/x", "s", "ASIASESSION000000001"),
        ct.record("GetObject", source="s3.amazonaws.com",
                  request={"bucketName": "b", "key": "k/1"},
                  additionalEventData={"bytesTransferredOut": 1234.0}),
    ]


def paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out.extend(paths(v, (*prefix, k)))
    return out


def deep(n: int) -> Any:
    v: Any = "bottom"
    for _ in range(n):
        v = {"a": v}
    return v


HUGE = "A" * 300_000
replacements = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.just(HUGE), st.just(""), st.just([]), st.just({}), st.just([1, "x", None]),
    st.builds(deep, st.integers(min_value=1, max_value=120)),
    st.sampled_from(["2026-02-29T12:00:00Z", "2025-02-29T12:00:00Z", "2026-03-19T10:00:00+05:30",
                     "2026-03-19 10:00:00", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "0000-01-01T00:00:00Z", "-2026-01-01T00:00:00Z", "NaN", "\u0000"]),
)


@st.composite
def mutated_record(draw: st.DrawFn) -> dict[str, Any]:
    rec = copy.deepcopy(draw(st.sampled_from(base_records())))
    rec["eventID"] = f"evt-{draw(st.integers(min_value=0, max_value=10**9))}"
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(paths(rec) or [("eventID",)]))
        node = rec
        for p in path[:-1]:
            node = node[p]
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        if draw(st.booleans()):
            del node[path[-1]]
        else:
            node[path[-1]] = draw(replacements)
    return rec


@settings(max_examples=40, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(mutated_record(), min_size=1, max_size=12))
def test_every_record_normalizes_to_one_row_event_or_reason(records: list[dict[str, Any]]
                                                             ) -> None:
    conn = new_connection(memory_limit="256MB", threads=1)
    try:
        with time_limit(20, "normalize"):
            rows = records_relation(conn, records).project(
                "i, reject, event_id, event_time").fetchall()
    finally:
        conn.close()
    assert sorted(r[0] for r in rows) == list(range(len(records)))  # one row per record
    for (i, reject, event_id, event_time) in rows:
        rec = records[i]
        if reject is None:
            assert event_id and event_time is not None
        else:
            assert reject.startswith(KNOWN_REJECTS), reject
        if rec.get("eventID") in (None, "") or "eventTime" not in rec:
            assert reject is not None, f"record {i} without eventID/eventTime was accepted"


@pytest.mark.parametrize("depth", [200, 1_000, 5_000, 50_000])
def test_deeply_nested_record_is_stored_or_quarantined(tmp_path: Path, depth: int) -> None:
    """A record nested past every parser's recursion limit sits between two good ones."""
    good = [ct.record("ListUsers", eventID=f"ok-{n}") for n in range(2)]
    nested = b"[" * depth + b"]" * depth
    bad = orjson.dumps(ct.record("ListUsers", eventID="deep")).replace(
        b'"requestParameters":null', b'"requestParameters":' + nested)
    body = b'{"Records":[' + orjson.dumps(good[0]) + b"," + bad + b"," + orjson.dumps(good[1])
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "deep.json").write_bytes(body + b"]}")
    st_ = Store(tmp_path / "store", create=True)
    with time_limit(60, "ingest of a deeply nested record"):
        stats = ingest([str(tmp_path / "src")], st_)
    assert_counts_add_up(stats, st_)
    ids = {r[0] for r in st_.connect().execute("SELECT event_id FROM events").fetchall()}
    assert {"ok-0", "ok-1"} <= ids  # the good neighbours are never lost
    assert stats.records_read == 3


# ---------------------------------------------------------------------------------------------
# The whole ingest on generated objects.


def assert_counts_add_up(stats: Any, store: Store) -> None:
    assert stats.records_read == (stats.events_stored + stats.duplicates
                                  + stats.records_quarantined)
    stored = store.connect().execute("SELECT count(*), count(DISTINCT event_id) FROM events"
                                     ).fetchone()
    assert stored == (stats.events_stored, stats.events_stored)
    with sqlite3.connect(store.root / "manifest.sqlite") as db:
        events, dups, rejected = db.execute(
            "SELECT sum(events), sum(duplicates), sum(rejected) FROM objects").fetchone()
        assert (events or 0, dups or 0, rejected or 0) == (
            stats.events_stored, stats.duplicates, stats.records_quarantined)
        for source, status, reason in db.execute(
                "SELECT source, status, reason FROM objects"):
            assert status in ("loaded", "empty", "quarantined", "same-as"), source
            if status == "quarantined":
                assert reason and "\n" not in reason
        rec_q = db.execute("SELECT count(*) FROM quarantine WHERE position IS NOT NULL"
                           ).fetchone()[0]
        assert rec_q == stats.records_quarantined + stats.conflicts
        assert db.execute("SELECT count(*) FROM quarantine WHERE reason = ''").fetchone()[0] == 0


@st.composite
def log_object(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """(bytes, number of records or None when the object is deliberately broken whole)."""
    recs = draw(st.lists(mutated_record(), max_size=6))
    if draw(st.integers(min_value=0, max_value=4)) == 0 and recs:
        recs.append(copy.deepcopy(recs[0]))  # a duplicate delivery inside the object
    layout = draw(st.sampled_from(["cloudtrail", "array", "ndjson", "pretty"]))
    if layout == "cloudtrail":
        data = orjson.dumps({"Records": recs})
    elif layout == "array":
        data = orjson.dumps(recs)
    elif layout == "pretty":
        data = orjson.dumps({"Records": recs}, option=orjson.OPT_INDENT_2)
    else:
        data = b"\n".join(orjson.dumps(r) for r in recs)
    n: int | None = len(recs)
    fault = draw(st.sampled_from(["none", "none", "none", "truncate", "garbage", "empty"]))
    if fault == "truncate" and len(data) > 2:
        data = data[: draw(st.integers(min_value=1, max_value=len(data) - 1))]
        n = None
    elif fault == "garbage":
        data = draw(st.binary(min_size=1, max_size=200))
        n = None
    elif fault == "empty":
        data, n = b"", 0
    if draw(st.booleans()):
        data = gzip.compress(data, compresslevel=1)
    return data, n


@settings(max_examples=12, deadline=60_000, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(objects=st.lists(log_object(), min_size=1, max_size=6))
def test_ingest_counts_add_up_on_hostile_objects(tmp_path_factory: pytest.TempPathFactory,
                                                 objects: list[tuple[bytes, int | None]]
                                                 ) -> None:
    root = tmp_path_factory.mktemp("fuzz-ingest")
    src = root / "src"
    src.mkdir()
    expected: dict[str, int | None] = {}
    for k, (data, n) in enumerate(objects):
        (src / f"obj{k}.json.gz").write_bytes(data)
        expected[str(src / f"obj{k}.json.gz")] = n
    store = Store(root / "store", create=True)
    with time_limit(60, "ingest"):
        stats = ingest([str(src)], store)
    assert_counts_add_up(stats, store)
    with sqlite3.connect(store.root / "manifest.sqlite") as db:
        rows = {s: (st_, e + d + r) for s, st_, e, d, r in db.execute(
            "SELECT source, status, events, duplicates, rejected FROM objects")}
    assert set(rows) == set(expected), "every object is recorded in the manifest"
    for source, n in expected.items():
        status, counted = rows[source]
        if status == "same-as":
            continue  # identical bytes to another object: its records are counted there
        if n is not None:  # well-formed: every record stored, a duplicate or refused
            assert counted == n, f"{source} ({status}): {n} records in, {counted} counted"
    # Running again reads nothing and changes nothing.
    again = ingest([str(src)], store)
    assert again.records_read == 0 and again.events_stored == 0


@pytest.mark.parametrize("bad", [b'"x\\ud800y"', b'"x\xffy"', b'"x\x01y"'],
                         ids=["lone-surrogate-escape", "invalid-utf8", "raw-control-char"])
def test_one_unparseable_record_does_not_hide_its_neighbours(tmp_path: Path, bad: bytes) -> None:
    good = [orjson.dumps(ct.record("ListUsers", eventID=f"ok-{n}")) for n in range(3)]
    hostile = orjson.dumps(ct.record("ListUsers", eventID="hostile", ua="UA")).replace(
        b'"UA"', bad)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "one.json").write_bytes(
        b'{"Records":[' + b",".join([good[0], hostile, good[1], good[2]]) + b"]}")
    store = Store(tmp_path / "store", create=True)
    stats = ingest([str(tmp_path / "src")], store)
    ids = {r[0] for r in store.connect().execute("SELECT event_id FROM events").fetchall()}
    assert {"ok-0", "ok-1", "ok-2"} <= ids, (stats.quarantine, ids)
    assert stats.records_quarantined + stats.events_stored >= 3
