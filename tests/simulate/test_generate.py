"""generate(): layout, determinism, seed variation, volumes, and compatibility with ingest."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
from collections import Counter
from pathlib import Path

import pytest

from trailhound.errors import UsageError
from trailhound.simulate import SCENARIOS, generate, verify

from .conftest import SMALL, distinct, read_records

NAME = re.compile(r"^AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
                  r"\1_CloudTrail_\2_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$")


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_passes_its_own_verifier(corpus, scenario):
    out, truth = corpus(scenario)
    assert verify(out) == []
    assert truth.scenario == scenario
    assert (truth.attack is None) == (scenario in ("benign", "none"))
    assert (truth.lookalikes == []) == (scenario == "none")


def test_files_follow_aws_layout_and_digests_exist(corpus):
    out, truth = corpus("full")
    logs = [p.relative_to(out).as_posix() for p in (out / "AWSLogs").rglob("*.json.gz")]
    digests = [p for p in logs if "/CloudTrail-Digest/" in p]
    assert digests, "hourly digest files are written"
    plain = [p for p in logs if p not in digests]
    assert len(plain) == truth.files
    assert all(NAME.match(p) for p in plain)
    # Several accounts and regions, IAM's global events in us-east-1.
    accounts = {p.split("/")[1] for p in plain}
    assert accounts == set(truth.accounts.values())
    assert any("/us-east-1/" in p for p in plain)
    raw = gzip.decompress((out / plain[0]).read_bytes())
    assert raw.startswith(b'{"Records":[') and b"\n" not in raw


def test_deliveries_are_late_out_of_order_and_duplicated(corpus):
    out, truth = corpus("full")
    late = unordered = 0
    per_file: dict[str, list[str]] = {}
    for f, r in read_records(out):
        per_file.setdefault(f, []).append(r["eventTime"])
    for f, times in per_file.items():
        stamp = re.search(r"_(\d{8}T\d{4})Z_", f).group(1)  # type: ignore[union-attr]
        file_min = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}"
        # Delivered at least one window after the event: a record 10+ minutes older than its
        # file's timestamp arrived late.
        late += sum(1 for t in times if t[:16] < _minus_minutes(file_min, 10))
        unordered += sum(1 for a, b in itertools.pairwise(times) if a > b)
    assert late > 0 and unordered > 0
    counts = Counter(r["eventID"] for _, r in read_records(out))
    dup = {e for e, n in counts.items() if n > 1}
    assert dup == set(truth.duplicate_event_ids)
    assert 0.001 < len(dup) / truth.events_total < 0.02
    assert truth.deliveries_total == truth.events_total + len(dup)


def _minus_minutes(hhmm: str, minutes: int) -> str:
    from datetime import datetime, timedelta

    t = datetime.strptime(hhmm, "%Y-%m-%dT%H:%M") - timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M")


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ta = generate(a, scenario="cross-account", days=1, events_per_day=1500, seed=3, workers=1)
    tb = generate(b, scenario="cross-account", days=1, events_per_day=1500, seed=3, workers=2)
    assert _tree(a) == _tree(b)
    assert ta.as_dict() == tb.as_dict()


def test_seeds_vary_names_addresses_and_agents(tmp_path, corpus):
    _out, truth = corpus("full")
    other = generate(tmp_path / "o", scenario="full", days=1, events_per_day=1000, seed=8)
    assert set(truth.accounts.values()).isdisjoint(other.accounts.values())
    assert set(truth.tenants) != set(other.tenants)
    a1, a2 = truth.attack, other.attack
    assert set(a1["source_ips"]).isdisjoint(a2["source_ips"])
    assert a1["root_access_key"] != a2["root_access_key"]
    assert a1["legitimate_ips_of_stolen_key"] != a2["legitimate_ips_of_stolen_key"]


def test_volume_follows_events_per_day_and_attack_stays_small(corpus):
    _out, truth = corpus("full")
    days, epd = SMALL["days"], SMALL["events_per_day"]
    assert 0.8 * days * epd < truth.events_total < 2.5 * days * epd
    assert len(truth.attack["event_ids"]) < 0.1 * truth.events_total


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="scenario"):
        generate(tmp_path / "x", scenario="loud")
    with pytest.raises(UsageError, match="days"):
        generate(tmp_path / "x", days=0)
    with pytest.raises(UsageError, match="events-per-day"):
        generate(tmp_path / "x", events_per_day=10)
    generate(tmp_path / "y", scenario="none", days=1, events_per_day=600)
    with pytest.raises(UsageError, match="already holds"):
        generate(tmp_path / "y", scenario="none", days=1, events_per_day=600)
    again = generate(tmp_path / "y", scenario="none", days=1, events_per_day=600,
                     overwrite=True)
    assert verify(tmp_path / "y") == []
    assert again.events_total == len(distinct(tmp_path / "y"))


@pytest.mark.parametrize("scenario", ["full", "cross-account"])
def test_ingested_store_reproduces_the_truth(corpus, tmp_path, scenario):
    """The store's normalized columns carry what truth.json claims: bytes per bucket, the
    created key, the session keys; ingest keeps each event once and skips the digests."""
    from trailhound.store.engine import Store
    from trailhound.store.ingest import ingest

    out, truth = corpus(scenario)
    st = Store(tmp_path / "s", create=True)
    try:
        stats = ingest([str(out / "AWSLogs")], st)
        conn = st.connect()
        a = truth.attack
        conn.execute("CREATE TEMP TABLE atk AS SELECT unnest(?::VARCHAR[]) AS id",
                     [a["event_ids"]])
        got = conn.execute(
            "SELECT bucket, account, count(DISTINCT object_key), count(*), sum(bytes_out) "
            "FROM events JOIN atk ON event_id = id WHERE event_name = 'GetObject' "
            "AND error_code IS NULL GROUP BY ALL ORDER BY bucket").fetchall()
        keys = {r[0] for r in conn.execute(
            "SELECT coalesce(created_access_key_id, session_access_key_id) FROM events "
            "JOIN atk ON event_id = id WHERE coalesce(created_access_key_id, "
            "session_access_key_id) IS NOT NULL").fetchall()}
        conn.close()
    finally:
        st.close()
    assert stats.events_stored == truth.events_total
    assert stats.records_quarantined == 0 and stats.objects_quarantined == 0
    assert sum(stats.skipped.values()) > 0  # the digests
    assert [tuple(r) for r in got] == [
        (b["name"], b["account"], b["objects_read"], b["get_object_events"], b["bytes_out"])
        for b in a["s3_buckets"]]
    assert keys and keys | {a["root_access_key"]} == set(a["access_keys"])


@pytest.mark.parametrize("scenario", ["full", "benign"])
def test_every_event_lies_inside_the_corpus_window(corpus, scenario):
    out, truth = corpus(scenario)
    times = [r["eventTime"] for _, r in read_records(out)]
    assert truth.start <= min(times) and max(times) < truth.end
