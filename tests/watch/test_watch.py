"""`trailhound watch` on a replayed simulated trail: what it streams, and that at the end its
alerts and incidents are exactly a batch `hunt`'s over the same logs."""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from trailhound.cli import main
from trailhound.simulate import generate
from watch_state import assert_book_keeps_ids_apart


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(args: list[str]) -> Run:
    """The CLI in-process, its two streams kept apart (usable from module fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return Run(code, out.getvalue(), err.getvalue())

# Three-hourly polls (32 over the 4 days) keep the suite fast; the watch's correctness does
# not depend on the interval (bench/replay.py measures minute polls).
INTERVAL = "3h"
INTERVAL_SECONDS = 3 * 3600


def _incidents(out: Path) -> dict:
    doc = orjson.loads((out / "incidents.json").read_bytes())
    doc.pop("generated_at")
    return doc


def _alerts(out: Path) -> list[tuple[str, tuple[str, ...], str | None]]:
    return sorted((a["rule_id"], tuple(a["event_ids"]), a["incident_id"])
                  for a in map(orjson.loads, (out / "alerts.ndjson").read_bytes().splitlines()))


def _lines(out: Path) -> list[dict]:
    path = out / "stream.ndjson"
    return [orjson.loads(x) for x in path.read_bytes().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("watch") / "corpus"
    generate(path, scenario="full", days=4, events_per_day=2000, seed=1)
    return path


@pytest.fixture(scope="module")
def batch(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("batch")
    r = invoke(["hunt", str(corpus), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def watched(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The replay in two runs: stopped after 15 polls, then resumed to the end."""
    base = tmp_path_factory.mktemp("watched")
    store, out = base / "store", base / "out"
    args = ["watch", "--replay", str(corpus), "--speed", "max", "--interval", INTERVAL,
            "--store", str(store), "--out", str(out)]
    first = invoke([*args, "--max-polls", "15"])
    assert first.exit_code == 0, first.output
    second = invoke(args)
    assert second.exit_code == 0, second.output
    return store, out, first.stderr + second.stderr


def test_alerts_and_incidents_equal_batch_hunt(watched: tuple[Path, Path, str],
                                               batch: Path) -> None:
    store, out, _ = watched
    assert _alerts(out) == _alerts(batch)
    assert _incidents(out) == _incidents(batch)
    assert _incidents(out)["incidents"], "the replayed attack must be found"
    # Dozens of polls replaced alerts as they grew: no event id left behind or duplicated.
    assert_book_keeps_ids_apart(store)


def test_stream_has_the_incident_from_validation_to_escalation(
        watched: tuple[Path, Path, str], corpus: Path) -> None:
    _, out, log = watched
    truth = orjson.loads((corpus / "truth.json").read_bytes())
    lines = _lines(out)
    incidents = [x for x in lines if x["type"] == "incident"]
    assert incidents, "no incident line"
    first = incidents[0]
    assert first["change"] == "new"
    assert truth["attack"]["root_access_key"] in first["incident"]["access_keys"]
    # Escalations of that same incident follow, ending at the batch's severity.
    final = {i["id"]: i["severity"] for i in _incidents(out)["incidents"]}
    last = [x for x in incidents if x["incident"]["id"] == first["incident"]["id"]][-1]
    assert last["incident"]["severity"] == final[first["incident"]["id"]]
    assert all(x["change"] in ("new", "escalated") for x in incidents)
    # Every line says when, on the trail's clock, it was emitted.
    assert all("replay_clock" in x and "poll" in x for x in lines)
    # New high alerts stream too, each once.
    alerts = [(x["alert"]["rule_id"], x["alert"]["event_time"], x["alert"]["access_key_id"])
              for x in lines if x["type"] == "alert"]
    assert alerts and len(alerts) == len(set(alerts))
    assert "first incident line" in log


def test_first_incident_line_within_a_poll_of_the_validation_delivery(
        watched: tuple[Path, Path, str], corpus: Path) -> None:
    _, out, _ = watched
    truth = orjson.loads((corpus / "truth.json").read_bytes())
    first = next(x for x in _lines(out) if x["type"] == "incident")
    start = truth["attack"]["window"]["start"]
    assert first["incident"]["first_seen"] == start
    # CloudTrail delivers within ~5-15 minutes; the poll after that delivery has it.
    from datetime import datetime

    lag = (datetime.fromisoformat(first["replay_clock"].rstrip("Z"))
           - datetime.fromisoformat(start.rstrip("Z"))).total_seconds()
    assert 0 < lag <= INTERVAL_SECONDS + 15 * 60


def test_poll_with_nothing_new_emits_nothing_and_keeps_outputs(
        watched: tuple[Path, Path, str], tmp_path: Path) -> None:
    store, out, _ = watched
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    inbox = out.parent / "empty-inbox"
    inbox.mkdir(exist_ok=True)
    r = invoke(["watch", str(inbox), "--store", str(copy), "--once",
                            "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert "0 events" in r.stderr
    assert _incidents(tmp_path / "out") == _incidents(out)


def test_exec_gets_each_line_on_stdin(corpus: Path, tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    sink = tmp_path / "paged.ndjson"
    truth = orjson.loads((corpus / "truth.json").read_bytes())
    start = datetime.fromisoformat(truth["attack"]["window"]["start"].rstrip("Z"))
    # The history up to 10 minutes before the attack at once, then 5-minute polls.
    begin = (start - timedelta(minutes=10)).isoformat(timespec="minutes")
    r = invoke([
        "watch", "--replay", str(corpus), "--replay-from", begin, "--speed", "max",
        "--interval", "5m", "--max-polls", "8", "--store", str(tmp_path / "store"),
        "--out", str(tmp_path / "out"), "--exec", f"sh -c 'cat >> {sink}'"])
    assert r.exit_code == 0, r.output
    streamed = (tmp_path / "out" / "stream.ndjson").read_bytes()
    assert streamed and sink.read_bytes() == streamed
    # stdout carries exactly the same lines (and nothing else).
    assert r.stdout.encode() == streamed


def test_refuses_ambiguous_or_bad_arguments(tmp_path: Path, corpus: Path) -> None:
    r = invoke(["watch", str(tmp_path), "--replay", str(corpus)])
    assert r.exit_code == 2 and "not both" in r.output
    r = invoke(["watch", str(tmp_path), "--interval", "soon"])
    assert r.exit_code == 2 and "--interval" in r.output
    r = invoke(["watch", "--replay", str(corpus), "--speed", "fast"])
    assert r.exit_code == 2 and "--speed" in r.output


def test_replay_orders_files_by_their_delivery_stamp(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from trailhound.watch import Replay, parse_speed

    logs = tmp_path / "c" / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1"
    logs.mkdir(parents=True)
    names = ["111122223333_CloudTrail_us-east-1_20260319T1015Z_bbbb.json.gz",
             "111122223333_CloudTrail_us-east-1_20260319T1005Z_aaaa.json.gz",
             "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260319T100930Z.json.gz",
             "export.ndjson"]
    for n in names:
        (logs / n).write_bytes(b"{}")
    (tmp_path / "c" / "truth.json").write_text("{}")  # beside AWSLogs/: not replayed
    rep = Replay(tmp_path / "c", tmp_path / "inbox", parse_speed("max"))
    assert [p.name for _, p in rep.schedule] == [names[1], names[3], names[2], names[0]]
    ticks = rep.ticks(timedelta(minutes=5))
    t0 = next(ticks)
    assert t0 == datetime(2026, 3, 19, 10, 5)
    assert rep.deliver_until(t0) == 2          # the 10:05 file and the unstamped export
    assert rep.deliver_until(next(ticks)) == 1  # 10:10: the digest of 10:09:30
    assert rep.deliver_until(next(ticks)) == 1  # 10:15
    assert rep.done and next(ticks, None) is None
    assert parse_speed("3600x") == 3600 and parse_speed("60") == 60
