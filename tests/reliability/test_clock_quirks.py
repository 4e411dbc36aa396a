"""Clock and data quirks real trails have: events out of order, clocks skewed past the
delivery time, time-zone offsets, leap days, and one eventID delivered with two contents.

What must hold: the store is a function of the set of events, not of the order or the file
they came in (so detection gives the same alerts); every timestamp is stored in UTC in the
partition of its UTC date; an impossible date is quarantined with a reason, not guessed; and
a re-delivered eventID whose content differs is reported, never silently dropped.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import cloudtrail as ct
from trailhound.rules import detect, load_rules
from trailhound.rules.model import RuleSet
from trailhound.rules.selftest import expand
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def rows(store: Store, cols: str = "event_id, event_time, account, date") -> list[tuple]:
    return store.connect().execute(f"SELECT {cols} FROM events ORDER BY event_id").fetchall()


@pytest.fixture(scope="module")
def builtin() -> RuleSet:
    return load_rules(include_sigma=False)


@pytest.fixture(scope="module")
def scenario_records(builtin: RuleSet) -> list[dict[str, Any]]:
    """Every built-in rule's positive scenario (first-seen histories, thresholds, sequences),
    each rule's events under its own ids: the events whose order matters most."""
    out: list[dict[str, Any]] = []
    for rule in builtin.rules:
        out.extend(expand(list(rule.positive), f"{rule.id}-p"))
    return out


def alerts(store: Store, ruleset: RuleSet) -> set[tuple[str, tuple[str, ...]]]:
    res = detect(store.connect(), ruleset)
    return {(a.rule_id, tuple(sorted(a.event_ids))) for a in res.alerts}


def test_order_of_events_and_files_does_not_change_the_store_or_alerts(
        tmp_path: Path, scenario_records: list[dict[str, Any]], builtin: RuleSet) -> None:
    ordered = sorted(scenario_records, key=lambda r: r["eventTime"])
    shuffled = list(scenario_records)
    random.Random(11).shuffle(shuffled)
    for name, recs in (("ordered", ordered), ("shuffled", shuffled)):
        # Shuffled: records out of order inside files, files listed newest first.
        chunks = [recs[n:n + 37] for n in range(0, len(recs), 37)]
        for k, chunk in enumerate(chunks):
            stamp = k if name == "ordered" else len(chunks) - k
            write(tmp_path / name / f"f{stamp:04d}.json.gz", chunk)
    a = Store(tmp_path / "sa", create=True)
    b = Store(tmp_path / "sb", create=True)
    ingest([str(tmp_path / "ordered")], a, batch_bytes=64 * 1024)
    ingest([str(tmp_path / "shuffled")], b, batch_bytes=16 * 1024)
    assert rows(a, "event_id, event_time, raw") == rows(b, "event_id, event_time, raw")
    found = alerts(a, builtin)
    assert found, "the rules' positive scenarios must raise alerts"
    assert alerts(b, builtin) == found


def test_skewed_time_zones_and_leap_days(tmp_path: Path) -> None:
    recs = [
        # Delivered in a file stamped 10:00Z but claiming 12:00Z and 2031: kept as written.
        ct.record("ListUsers", eventID="skew-future", time="2026-03-19T12:00:00Z"),
        ct.record("ListUsers", eventID="far-future", time="2031-01-01T00:00:00Z"),
        # Offsets: stored in UTC, partitioned by the UTC date (the next day, the day before).
        ct.record("ListUsers", eventID="tz-minus", time="2026-03-19T23:30:00-02:00"),
        ct.record("ListUsers", eventID="tz-plus", time="2026-03-20T01:00:00+05:30"),
        ct.record("ListUsers", eventID="frac", time="2026-03-19T10:00:00.123456Z"),
        ct.record("ListUsers", eventID="leap", time="2028-02-29T12:00:00Z"),
        ct.record("ListUsers", eventID="not-leap", time="2026-02-29T12:00:00Z"),
        ct.record("ListUsers", eventID="month-13", time="2026-13-01T00:00:00Z"),
        ct.record("ListUsers", eventID="epoch-number", time=1773914400),
    ]
    write(tmp_path / "src" / "x_20260319T1000Z.json.gz", recs)
    st = Store(tmp_path / "st", create=True)
    stats = ingest([str(tmp_path / "src")], st)
    got = {r[0]: (r[1], r[3].isoformat()) for r in rows(st)}
    assert got == {
        "skew-future": (datetime(2026, 3, 19, 12), "2026-03-19"),
        "far-future": (datetime(2031, 1, 1), "2031-01-01"),
        "tz-minus": (datetime(2026, 3, 20, 1, 30), "2026-03-20"),
        "tz-plus": (datetime(2026, 3, 19, 19, 30), "2026-03-19"),
        "frac": (datetime(2026, 3, 19, 10, 0, 0, 123456), "2026-03-19"),
        "leap": (datetime(2028, 2, 29, 12), "2028-02-29"),
    }
    refused = {p: r for _, p, r in stats.quarantine if p}
    assert sorted(refused.values()) == ["eventTime is not an ISO-8601 timestamp"] * 3
    assert stats.records_read == stats.events_stored + stats.duplicates + \
        stats.records_quarantined == 9


def test_same_event_id_with_other_content_is_reported(tmp_path: Path) -> None:
    first = ct.record("GetObject", source="s3.amazonaws.com", eventID="twin",
                      request={"bucketName": "b", "key": "k"})
    same_reordered = dict(reversed(list(first.items())))  # same content, other key order
    tampered = {**first, "sourceIPAddress": "203.0.113.66"}
    write(tmp_path / "src" / "a.json.gz", [first])
    write(tmp_path / "src" / "b.json.gz", [same_reordered, tampered])
    st = Store(tmp_path / "st", create=True)
    stats = ingest([str(tmp_path / "src")], st)
    assert (stats.events_stored, stats.duplicates, stats.conflicts) == (1, 2, 1)
    [(_, position, reason)] = [q for q in stats.quarantine if q[1]]
    assert position.startswith("record")
    assert "twin" in reason and "different content" in reason
    # Across runs too: a later delivery that rewrites the stored event is reported.
    write(tmp_path / "src" / "c.json.gz", [{**first, "userAgent": "rewritten"}])
    later = ingest([str(tmp_path / "src")], st)
    assert (later.events_stored, later.duplicates, later.conflicts) == (0, 1, 1)
    assert rows(st, "event_id, raw") == [("twin", json.dumps(first, separators=(",", ":")))]
