"""verify() finds what is wrong, and the CLI reports it."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson

from trailhound.simulate import verify


def _copy(corpus, tmp_path, scenario="full") -> Path:
    src, _truth = corpus(scenario)
    dst = tmp_path / "c"
    shutil.copytree(src, dst)
    return dst


def _rewrite(path: Path, fn) -> None:
    body = orjson.loads(gzip.decompress(path.read_bytes()))
    fn(body["Records"])
    path.write_bytes(gzip.compress(orjson.dumps(body)))


def _log_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "AWSLogs").rglob("*.json.gz")
                  if "CloudTrail-Digest" not in p.as_posix())


def test_tampered_bytes_break_the_truth(corpus, tmp_path):
    out = _copy(corpus, tmp_path)
    truth = orjson.loads((out / "truth.json").read_bytes())
    target = truth["attack"]["events_by_stage"]["exfiltration"][0]
    for f in _log_files(out):
        body = orjson.loads(gzip.decompress(f.read_bytes()))
        if any(r["eventID"] == target for r in body["Records"]):
            def bump(recs):
                for r in recs:
                    if r["eventID"] == target:
                        r["additionalEventData"]["bytesTransferredOut"] += 1
            _rewrite(f, bump)
            break
    problems = verify(out)
    assert any("s3_buckets" in p for p in problems)
    assert any("hash of" in p for p in problems)  # the digest no longer matches


def test_missing_fields_bad_names_and_strays(corpus, tmp_path):
    out = _copy(corpus, tmp_path, "none")
    files = _log_files(out)

    def strip(recs):
        del recs[0]["userIdentity"]["type"]
        recs[0].pop("eventTime")

    _rewrite(files[0], strip)
    (files[1].parent / "notes.txt").write_text("hello")
    files[2].rename(files[2].with_name("renamed.json.gz"))
    problems = verify(out)
    text = "\n".join(problems)
    assert "unknown userIdentity.type" in text
    assert "no eventTime" in text
    assert "not a CloudTrail log or digest path" in text
    assert "events_total" in text or "deliveries_total" in text


def test_unlabelled_duplicates_and_counts(corpus, tmp_path):
    out = _copy(corpus, tmp_path, "none")
    files = _log_files(out)
    first = orjson.loads(gzip.decompress(files[0].read_bytes()))["Records"][0]
    _rewrite(files[5], lambda recs: recs.append(first))
    problems = "\n".join(verify(out))
    assert "unlabelled duplicate" in problems
    assert "deliveries_total" in problems


def test_cli_simulate_and_verify(cli, tmp_path, corpus):
    out = tmp_path / "sim"
    code, stdout, err = cli("simulate", "--out", str(out), "--scenario", "quiet", "--days", "1",
                            "--events-per-day", "1500", "--seed", "5", "--start", "2026-01-05")
    assert code == 0, err
    assert "events" in stdout and "attack:" in stdout
    truth = orjson.loads((out / "truth.json").read_bytes())
    assert truth["start"] == "2026-01-05T00:00:00Z" and truth["scenario"] == "quiet"
    code, stdout, _ = cli("simulate", "--verify", str(out))
    assert code == 0 and "ok" in stdout
    broken = _copy(corpus, tmp_path, "benign")
    (broken / "truth.json").write_bytes(b"{")
    code, _stdout, err = cli("simulate", "--verify", str(broken))
    assert code == 2 and "problems" in err
    code, _, err = cli("simulate", "--out", str(tmp_path / "z"), "--scenario", "loud")
    assert code == 2 and "unknown scenario" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("simulate")
    assert code == 2 and "--out" in err
