"""The CLI's Spark flags: ingest and detect with --engine spark give what DuckDB gives; the
flags that make no sense together are refused with one line and exit 2."""

from __future__ import annotations

import json

import pytest

import cloudtrail as ct
from spark.compare import rows_of

pytestmark = pytest.mark.spark


def corpus(root):
    """A key validated with TruffleHog, then used to create a key for another user."""
    who = {"identity": ct.iam_user_identity(key="AKIAEXAMPLESTOLEN001"), "ip": "203.0.113.9"}
    recs = [ct.get_caller_identity(ua="TruffleHog", time="2026-03-19T10:00:00Z", **who),
            ct.create_access_key("web-admin", "AKIAEXAMPLECREATED01",
                                 time="2026-03-19T10:05:00Z", **who)]
    ct.write_aws_layout(root, recs)
    return root


def test_ingest_and_detect_match_duckdb(tmp_path, spark_engine, cli):
    src = corpus(tmp_path / "src")
    code, out, err = cli("ingest", str(src), "--store", str(tmp_path / "spark"), "--format",
                         "json", "--engine", "spark", "--spark-master", "local[2]")
    assert code == 0, err
    assert json.loads(out)["events_stored"] == 2
    assert cli("ingest", str(src), "--store", str(tmp_path / "duck"))[0] == 0
    assert rows_of(tmp_path / "spark") == rows_of(tmp_path / "duck")

    code, spark_out, err = cli("detect", "--store", str(tmp_path / "duck"), "--format",
                               "ndjson", "--no-sigma", "--engine", "spark")
    assert code == 0, err
    code, duck_out, _ = cli("detect", "--store", str(tmp_path / "duck"), "--format", "ndjson",
                            "--no-sigma")
    assert spark_out == duck_out
    # The alerts' ids were written by the executors under tmp/ and are gone once printed.
    assert not list((tmp_path / "duck").glob("tmp/alert-ids-*"))
    assert {json.loads(x)["rule_id"] for x in spark_out.splitlines()} >= {
        "credential_access_validator_user_agent", "persistence_access_key_for_other_user"}


@pytest.mark.parametrize(("args", "why"), [
    (("detect", "--store", "{store}", "--spark-master", "local[2]"), "--engine spark only"),
    (("ingest", "s3a://trail/AWSLogs", "--store", "{store}", "--engine", "spark",
      "--endpoint-url", "http://127.0.0.1:9", "--since", "2026-03-01"), "spark.hadoop.fs.s3a"),
])
def test_flags_that_do_not_fit_are_refused(tmp_path, spark_engine, cli, args, why):
    src = corpus(tmp_path / "src")
    assert cli("ingest", str(src), "--store", str(tmp_path / "store"))[0] == 0
    code, _, err = cli(*[a.format(store=tmp_path / "store") for a in args])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and why in err
