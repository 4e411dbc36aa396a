"""The Case: what a hunt leaves in the store, and everything after correlation reading it.

One hand-made corpus: a CI pipeline that assumes its deploy role in the production account on
every run; its key is stolen, used to create a key for web-admin, which reads tenant dumps.
The pipeline's own role sessions are children of the stolen key in the credential graph, but
not the attacker's: the Case's lineage holds only what correlation attributed, and every
reader (evidence files, investigate, respond) agrees with it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import cloudtrail as ct
from correlate.handmade import (
    ATK1,
    ATK2,
    ATK_CLI,
    CI_KEY,
    CI_UA,
    DAYS,
    OTHER,
    RUNNERS,
    T0,
    THEFT,
    api,
    assume_role_pair,
    background,
    ci,
    create_access_key,
    get_caller_identity,
    mass_read,
    plan_bytes,
    run_hunt,
    user,
)
from trailhound.case import TABLES

NEW_KEY = "AKIAWEBADMINCASE0001"
PLAN = {"tenant-db-dumps": 40, "tenant-docs": 10}


@pytest.fixture(scope="module")
def hunted(tmp_path_factory):
    from conftest import run_cli

    tmp = tmp_path_factory.mktemp("case")
    recs = background()
    role = f"arn:aws:iam::{OTHER}:role/deploy"
    for n, t in enumerate(T0 + timedelta(hours=6 * i, minutes=1) for i in range(DAYS * 4)):
        ip = RUNNERS[n % len(RUNNERS)]
        key = f"ASIADEPLOYCASE{n:06d}"
        recs += assume_role_pair(ci(), t, ip, CI_UA, role, f"gha-run-{n}", key, f"case-{n}")
        s = ct.assumed_role_identity("deploy", f"gha-run-{n}", key, OTHER)
        recs.append(api("UpdateService", "ecs.amazonaws.com", s, t + timedelta(seconds=30), ip,
                        CI_UA, account=OTHER, request={"cluster": "prod"}))
    t = THEFT
    recs += [get_caller_identity(ci(), t, ATK1, "TruffleHog/3.63.2"),
             create_access_key(ci(), t + timedelta(minutes=5), ATK1, ATK_CLI, "web-admin",
                               NEW_KEY)]
    recs += mass_read(user("web-admin", NEW_KEY), t + timedelta(hours=1), ATK2, ATK_CLI, PLAN,
                      1_000_000)
    res = run_hunt(run_cli, tmp, recs)
    return res, res.out / "store"


def _table(store: Path, name: str) -> list[dict]:
    files = sorted((store / "case" / name).glob("*.parquet"))
    rows: list[dict] = []
    for f in files:
        rows += pq.read_table(f).to_pylist()
    return rows


def test_the_store_holds_every_table_and_no_leftovers(hunted):
    res, store = hunted
    for t in TABLES:
        assert (store / "case" / t).is_dir(), t
    assert not [p for p in store.iterdir() if p.name.startswith("case.")]
    assert json.loads((store / "case" / "incidents.json").read_text()) == res.doc


def test_attributed_events_are_the_evidence(hunted):
    res, store = hunted
    (inc,) = res.incidents
    case = {(r["event_id"], r["attribution"]) for r in _table(store, "attributed_events")
            if r["incident"] == inc["id"]}
    evidence = {(e["event_id"], e["attribution"]) for e in res.evidence(inc)}
    assert case == evidence
    reasons = {json.loads(r["reason"])["kind"] for r in _table(store, "attributed_events")}
    assert reasons <= {"indicator", "rule", "mint", "pivot", "context"}


def test_credentials_and_impact_are_the_incident(hunted):
    res, store = hunted
    (inc,) = res.incidents
    creds = {r["credential"]: r for r in _table(store, "credentials")}
    assert set(creds) == {CI_KEY, NEW_KEY}
    assert creds[NEW_KEY]["parent"] == CI_KEY and creds[NEW_KEY]["mint_kind"] == "CreateAccessKey"
    assert creds[CI_KEY]["how"] == "root"
    impact = {r["bucket"]: (r["objects_read"], r["bytes_out"]) for r in _table(store, "impact")}
    assert impact == plan_bytes(PLAN, 1_000_000)
    assert impact == {b["name"]: (b["objects_read"], b["bytes_out"])
                      for b in inc["resources"]["s3_buckets"]}


def test_investigate_reads_the_lineage_it_does_not_walk_it(hunted):
    """The stolen key minted dozens of deploy sessions for the pipeline: children in the
    graph, not in the incident. investigate --incident shows the incident's lineage only."""
    from conftest import run_cli

    res, store = hunted
    (inc,) = res.incidents
    code, out, err = run_cli("investigate", "--store", str(store), "--incident", inc["id"],
                             "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert {n["key"] for n in doc["lineage"]["keys"]} == {CI_KEY, NEW_KEY}
    assert [(e["from"], e["to"]) for e in doc["lineage"]["edges"]] == [(CI_KEY, NEW_KEY)]
    buckets = {b["bucket"]: b["attacker_bytes_out"] for b in doc["buckets"]}
    assert {b: buckets[b] for b in PLAN} == {b: v[1] for b, v in
                                             plan_bytes(PLAN, 1_000_000).items()}
    # A key investigation still walks the whole graph: the pipeline's sessions hang under it.
    code, out, err = run_cli("investigate", "--store", str(store), "--key", CI_KEY,
                             "--format", "json")
    assert code == 0, err
    keys = {n["key"] for n in json.loads(out)["lineage"]["keys"]}
    assert NEW_KEY in keys and any(k.startswith("ASIADEPLOYCASE") for k in keys)
