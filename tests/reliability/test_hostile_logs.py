"""Hostile logs must not hide an attack, crash a hunt or run code (issue: hostile logs).

A known incident from the simulator; then one attacker-chosen field at a time changed to a
hostile value - in every attacker record, which is the strongest form of "any one record".
The incident must keep its severity, keys and stages (what cannot be read is reported, not
dropped), every output must still be written, and nothing in them may execute when pasted
into a shell or rendered as Markdown.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli

from trailhound.simulate import generate

pytestmark = pytest.mark.slow

SIZE = {"scenario": "full", "days": 2, "events_per_day": 3000, "seed": 1}
Record = dict[str, Any]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    root = tmp_path_factory.mktemp("hostile")
    generate(root / "sim", **SIZE)
    truth = json.loads((root / "sim" / "truth.json").read_text())
    code, _, err = run_cli("hunt", str(root / "sim" / "AWSLogs"), "--out", str(root / "base"))
    assert code == 0, err
    return root, truth, incident_of(root / "base", truth)


def incident_of(out: Path, truth: dict) -> dict:
    doc = json.loads((out / "incidents.json").read_text())
    root_key = truth["attack"]["root_access_key"]
    found = [i for i in doc["incidents"] if root_key in i["access_keys"]]
    assert found, [i["title"] for i in doc["incidents"]]
    return found[0]


def mutated(corpus: tuple[Path, dict, dict], name: str, change: Callable[[Record], bool],
            attacker: bool = True, limit: int | None = None) -> tuple[Path, int]:
    """A copy of the corpus with `change` applied to (up to `limit`) attacker records, or to
    benign ones; returns the copy's AWSLogs and how many records changed."""
    root, truth, _ = corpus
    ids = set(truth["attack"]["event_ids"])
    dst = root / name / "AWSLogs"
    shutil.rmtree(root / name, ignore_errors=True)
    shutil.copytree(root / "sim" / "AWSLogs", dst)
    n = 0
    for f in sorted(dst.rglob("*.json.gz")):
        doc = json.loads(gzip.decompress(f.read_bytes()))
        if "Records" not in doc:
            continue
        changed = False
        for r in doc["Records"]:
            if (r["eventID"] in ids) == attacker and (limit is None or n < limit) and change(r):
                n += 1
                changed = True
        if changed:  # json.dumps writes a lone surrogate as the escape \ud800, as a log can
            f.write_bytes(gzip.compress(json.dumps(doc).encode()))
    assert n, f"{name}: nothing changed"
    return dst, n


def hunt(src: Path) -> tuple[int, str, Path]:
    out = src.parent / "out"
    code, stdout, err = run_cli("hunt", str(src), "--out", str(out))
    return code, stdout + err, out


def assert_not_hidden(before: dict, after: dict) -> None:
    assert after["severity"] == before["severity"]
    assert after["access_keys"] == before["access_keys"]
    assert set(before["stages"]) <= set(after["stages"])


def set_field(*path: str, value: Any, when: Callable[[Record], bool] = lambda r: True
              ) -> Callable[[Record], bool]:
    def change(r: Record) -> bool:
        if not when(r):
            return False
        o = r
        for k in path[:-1]:
            if not isinstance(o.get(k), dict):
                return False
            o = o[k]
        o[path[-1]] = value
        return True
    return change


GET_OBJECT = {"when": lambda r: r.get("eventName") == "GetObject"}


def every(*changes: Callable[[Record], bool]) -> Callable[[Record], bool]:
    """All of `changes` on one record (one hunt checks several hostile fields at once)."""
    def change(r: Record) -> bool:
        return [c(r) for c in changes].count(True) > 0
    return change


def impossible_size() -> Callable[[Record], bool]:
    """GetObject sizes alternately negative and past what 64 bits can sum three times."""
    n = [0]

    def change(r: Record) -> bool:
        n[0] += 1
        return set_field("additionalEventData", "bytesTransferredOut",
                         value=-1e12 if n[0] % 2 else 9e18, **GET_OBJECT)(r)
    return change


@pytest.mark.parametrize(("name", "change"), [
    ("unencodable-text", every(
        set_field("userAgent", value="aws-cli/2.15 \ud800"),
        set_field("requestParameters", "key", value="a\udfffb"),
        set_field("requestParameters", "bucketName\ud800", value="x"))),
    ("impossible-values", every(
        set_field("userAgent", value="kali " + "A" * 1_000_000),
        impossible_size())),
])
def test_hostile_fields_in_every_attacker_record_are_repaired_and_reported(
        corpus, name, change):
    _root, truth, before = corpus
    src, _n = mutated(corpus, name, change)
    code, text, out = hunt(src)
    assert code == 0, text
    after = incident_of(out, truth)
    assert_not_hidden(before, after)
    assert 0 <= after["bytes_out"] <= before["bytes_out"]
    if name == "impossible-values":  # not summed; the reads still count, as of unknown size
        assert sum(b["reads_of_unknown_size"] for b in after["resources"]["s3_buckets"]) > 0
    assert any("fields were replaced" in w for w in after["warnings"]), after["warnings"]
    assert "records repaired and loaded" in " ".join(text.split())


UNUSABLE_TIMES = [
    ("infinity", "not an ISO-8601 timestamp"),
    ("10000-01-01T00:00:00Z", "not an ISO-8601 timestamp"),
    ("-0001-01-01T00:00:00Z", "not an ISO-8601 timestamp"),
    ("0000-01-01T00:00:00Z", "outside the years 1970-9999"),
    ("1969-12-31T23:59:59Z", "outside the years 1970-9999"),
    ("epoch", "not an ISO-8601 timestamp"),
    ("2026-03-16T10:00:00+99:00", "not an ISO-8601 timestamp"),
]


def test_unusable_event_times_are_quarantined_and_the_hunt_goes_on(corpus):
    _root, truth, before = corpus
    times = iter(UNUSABLE_TIMES)

    def change(r: Record) -> bool:
        r["eventTime"] = next(times)[0]
        return True

    src, _ = mutated(corpus, "times", change, attacker=False, limit=len(UNUSABLE_TIMES))
    code, text, out = hunt(src)
    assert code == 0, text
    assert_not_hidden(before, incident_of(out, truth))
    doc = json.loads((out / "incidents.json").read_text())
    assert doc["events_analysed"] == truth["events_total"] - len(UNUSABLE_TIMES)
    assert f"{len(UNUSABLE_TIMES)} records quarantined" in " ".join(text.split())
    saved = [json.loads(line) for f in (out / "store" / "quarantine" / "records").iterdir()
             for line in f.read_text().splitlines()]
    assert sorted(e["reason"] for e in saved) == sorted(
        f"eventTime is {why}" for _, why in UNUSABLE_TIMES)


def test_markup_in_an_address_is_not_rendered_and_names_in_undo_commands_are_quoted(corpus):
    root, truth, _before = corpus
    canary = root / "PWNED"
    user = f"ops$(touch {canary})"
    ip = "<img src=x onerror=alert(1)>"

    def change(r: Record) -> bool:
        if r.get("eventName") == "CreateAccessKey":
            r["requestParameters"]["userName"] = user
        r["sourceIPAddress"] = ip
        return True

    src, _ = mutated(corpus, "markup", change)
    code, text, out = hunt(src)
    assert code == 0, text
    md = (out / "report.md").read_text()
    assert "\\<img" in md and not re.search(r"(?<!\\)<img", md)
    inc = incident_of(out, truth)
    code, plan, err = run_cli("respond", "--store", str(out / "store"), "--incident", inc["id"],
                              "--format", "json")
    assert code == 0, err
    undo = [s["undo"] for s in json.loads(plan)["steps"] if user in s.get("undo", "")]
    assert undo, "no undo command names the user"
    import subprocess

    for cmd in undo:  # the shell sees the name as one word, never as a command
        subprocess.run(["bash", "-c", cmd.replace("aws ", "echo ", 1)], check=False,
                       capture_output=True, timeout=10)
    assert not canary.exists()


def test_a_lost_manifest_is_rebuilt_from_the_parts_never_deleted(corpus, tmp_path):
    root, truth, _before = corpus
    store = tmp_path / "store"
    shutil.copytree(root / "base" / "store", store)
    (store / "manifest.sqlite").unlink()
    for f in store.glob("manifest.sqlite-*"):
        f.unlink()
    code, _, err = run_cli("detect", "--store", str(store))
    assert code == 2 and "manifest.sqlite is missing" in err and "nothing is deleted" in err
    # An emptied manifest reads as a new one: its parts are adopted all the same.
    (store / "manifest.sqlite").write_bytes(b"")
    code, text, err = run_cli("ingest", str(root / "sim" / "AWSLogs"), "--store", str(store))
    assert code == 0, err
    assert "parts adopted" in text + err
    code, _stdout, err = run_cli("hunt", "--store", str(store), "--out", str(tmp_path / "o"))
    assert code == 0, err
    doc = json.loads((tmp_path / "o" / "incidents.json").read_text())
    assert doc["events_analysed"] == truth["events_total"]


def test_a_folder_that_is_not_a_store_is_refused_not_emptied(corpus, tmp_path):
    root, _, _ = corpus
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "keep.txt").write_text("mine")
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli("ingest", str(root / "sim" / "AWSLogs"), "--store", str(tmp_path))
    assert code == 2 and "not a trailhound store" in err
    assert (tmp_path / "tmp" / "keep.txt").read_text() == "mine"


def test_no_cloudtrail_at_all_is_an_input_error_not_a_clean_bill(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.json").write_text('{"Events": []}')
    (src / "empty.json").write_text("")
    code, _, err = run_cli("hunt", str(src), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "no CloudTrail records loaded" in err and "1 empty" in err


def test_json_outputs_carry_bidi_and_c1_characters_escaped_never_raw(corpus):
    _root, truth, before = corpus
    ua = "aws-cli/2.15 \u202egpj.exe\x85\u2066"
    src, _ = mutated(corpus, "bidi", set_field("userAgent", value=ua))
    code, text, out = hunt(src)
    assert code == 0, text
    code, detected, err = run_cli("detect", "--store", str(out / "store"), "--format", "json")
    assert code == 0, err
    files = {p.name: p.read_text() for p in (out / "incidents.json", out / "alerts.ndjson",
                                              out / "ocsf.json")}
    for name, body in {**files, "detect --format json": detected}.items():
        assert not re.search("[\u202e\x85\u2066]", body), name
    assert "\\u202e" in files["incidents.json"]
    after = incident_of(out, truth)  # the value itself is unchanged for any JSON reader
    assert ua in after["user_agents"]
    assert_not_hidden(before, after)


def test_a_pipe_is_refused_and_links_in_a_folder_are_counted_not_silently_skipped(tmp_path):
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = run_cli("ingest", str(fifo), "--store", str(tmp_path / "s1"))
    assert code == 2 and "not a regular file or folder" in err
    folder = tmp_path / "logs"
    folder.mkdir()
    target = tmp_path / "elsewhere.json"
    target.write_text('{"Records": []}')
    (folder / "link.json").symlink_to(target)
    code, text, err = run_cli("ingest", str(folder), "--store", str(tmp_path / "s2"))
    assert "symbolic link (not followed" in text + err


def test_an_output_that_cannot_be_written_is_one_line_and_staging_names_do_not_collide(
        tmp_path):
    from trailhound.errors import ReportError
    from trailhound.hunt import atomic_file, atomic_write

    with pytest.raises(ReportError, match="cannot write"):
        atomic_write(tmp_path / "gone" / "incidents.json", b"{}")
    target = tmp_path / "incidents.json"
    with atomic_file(target) as a, atomic_file(target) as b:  # two hunts, one --out
        a.write(b"first")
        b.write(b"second")
    assert target.read_bytes() in (b"first", b"second")
    assert [p.name for p in tmp_path.iterdir()] == ["incidents.json"]


def test_an_object_past_the_size_limit_is_refused_before_it_is_read(tmp_path):
    src = tmp_path / "logs"
    src.mkdir()
    big = src / "huge.json"
    with open(big, "wb") as fh:  # sparse: 2 GiB on paper, nothing on disk
        fh.truncate(2 * 1024**3)
    (src / "good.json").write_text(json.dumps({"Records": [
        {"eventID": "e1", "eventTime": "2026-03-16T10:00:00Z", "eventName": "ListBuckets",
         "eventSource": "s3.amazonaws.com", "recipientAccountId": "111122223333"}]}))
    code, text, err = run_cli("ingest", str(src), "--store", str(tmp_path / "store"),
                              "--format", "json")
    assert code == 0, err
    stats = json.loads(text)
    assert stats["events_stored"] == 1 and stats["objects_quarantined"] == 1
    (why,) = [q["reason"] for q in stats["quarantine"] if q["source"].endswith("huge.json")]
    assert "larger than the limit" in why


def test_a_damaged_part_is_named_and_repair_reads_its_objects_again(corpus, tmp_path):
    root, truth, _before = corpus
    store = tmp_path / "store"
    shutil.copytree(root / "base" / "store", store)
    part = sorted(store.glob("events/*/*/*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:1000])  # truncated: a crash of another tool, a bad disk
    code, _, err = run_cli("detect", "--store", str(store))
    assert code == 2 and "not readable" in err and part.name in err and "--repair" in err
    assert len(err.strip().splitlines()) == 1
    code, text, err = run_cli("ingest", str(root / "sim" / "AWSLogs"), "--store", str(store),
                              "--repair", "--format", "json")
    assert code == 0, err
    assert json.loads(text)["parts_repaired"] == 1
    assert (store / "quarantine" / "parts").is_dir()
    code, _, err = run_cli("hunt", "--store", str(store), "--out", str(tmp_path / "o"))
    assert code == 0, err
    doc = json.loads((tmp_path / "o" / "incidents.json").read_text())
    assert doc["events_analysed"] == truth["events_total"]
