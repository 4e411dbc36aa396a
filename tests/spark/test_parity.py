"""Parity: the same hunt on DuckDB and on Spark gives the same answer.

On two of the simulator's scenarios (the reference attack, and the cross-account one whose
lineage spans accounts through assumed roles), sources are ingested, detected, correlated
and reported once per engine, and everything a script may rely on is compared: the stores
(every column of every event, the manifest), every alert (rule, event ids, key, principal,
IP, account, times), incidents.json whole (keys, principals, IPs, buckets, bytes, stages,
severity, confidence), the evidence files. The Spark run is also scored against the
simulator's truth, so parity cannot hold by both engines finding nothing.

The reference scenario runs through the CLI (`hunt --engine spark --spark-master local[2]`),
the cross-account one through the library.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from spark.compare import alerts_of, evidence_of, incidents_of, manifest_of, rows_of
from trailhound.hunt import hunt
from trailhound.simulate import generate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from evaluate import score

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# The smallest corpus in which every stage of both attacks happens (3 days hold none).
SIZE = {"days": 4, "events_per_day": 2000, "seed": 1}


def simulated(tmp_path: Path, scenario: str) -> tuple[Path, dict[str, str], dict]:
    sim = tmp_path / "sim"
    generate(sim, scenario=scenario, **SIZE)
    tenants = json.loads((sim / "tenants.json").read_text())
    return sim / "AWSLogs", tenants, json.loads((sim / "truth.json").read_text())


def assert_same_hunt(duck: Path, spark: Path) -> None:
    assert rows_of(spark / "store") == rows_of(duck / "store")
    assert manifest_of(spark / "store") == manifest_of(duck / "store")
    assert alerts_of(spark) == alerts_of(duck)
    assert incidents_of(spark) == incidents_of(duck)
    assert evidence_of(spark) == evidence_of(duck)
    for name in ("report.md", "report.html"):
        # Equal but for the line saying when the report was generated.
        a = [x for x in (spark / name).read_text().splitlines() if "UTC" not in x]
        b = [x for x in (duck / name).read_text().splitlines() if "UTC" not in x]
        assert a == b, name


def assert_attack_found(out: Path, truth: dict) -> None:
    row = score(out, truth)
    assert row.get("missed") is None and row["ok"], row
    assert row["severity"] in ("high", "critical"), row
    assert row["keys_r"] == row["ips_r"] == row["princ_r"] == 1.0, row
    assert row["buckets_exact"], row


def test_reference_attack_through_the_cli(tmp_path, spark_engine, cli):
    src, tenants, truth = simulated(tmp_path, "full")
    (tmp_path / "tenants.json").write_text(json.dumps(tenants))
    hunt([str(src)], tmp_path / "duck", tenants=tenants)
    code, _, err = cli("hunt", str(src), "--out", str(tmp_path / "spark"),
                       "--tenants", str(tmp_path / "tenants.json"),
                       "--engine", "spark", "--spark-master", "local[2]")
    assert code == 0, err
    assert_same_hunt(tmp_path / "duck", tmp_path / "spark")
    assert_attack_found(tmp_path / "spark", truth)
    assert incidents_of(tmp_path / "spark")["incidents"][0]["severity"] == "critical"


def test_cross_account_lineage_through_the_library(tmp_path, spark_engine):
    src, tenants, truth = simulated(tmp_path, "cross-account")
    duck = hunt([str(src)], tmp_path / "duck", tenants=tenants)
    spark = hunt([str(src)], tmp_path / "spark", tenants=tenants, engine=spark_engine)
    assert spark.detect.skipped == [
        *duck.detect.skipped,
        ("aws_ecs_task_definition_cred_endpoint_query",
         "query failed: JSON path with [*] has no Spark equivalent here")]
    assert_same_hunt(tmp_path / "duck", tmp_path / "spark")
    assert_attack_found(tmp_path / "spark", truth)
    inc = incidents_of(tmp_path / "spark")["incidents"][0]
    assert len(inc["accounts"]) > 1 and len(inc["access_keys"]) > 2
