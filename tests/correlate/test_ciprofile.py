"""--ci-profile: a CI key used without its pipeline's markers becomes evidence."""

from __future__ import annotations

import json
from datetime import timedelta

import cloudtrail as ct
from ci_corpus import ATTACKER, CI_KEY, T0, alert, ci_identity, routine, ts
from trailhound.correlate import correlate
from trailhound.correlate.ciprofile import RULE_ID, ci_key_alerts, distinctive_markers
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest


def store_with(tmp_path, records):
    ct.write_aws_layout(tmp_path / "src", records, per_file=500)
    st = Store(tmp_path / "store", create=True)
    ingest([str(tmp_path / "src")], st)
    return st.connect()


def test_only_environment_markers_count():
    assert distinctive_markers(["aws-cli/", "exec-env/GitHubActions"]) == [
        "exec-env/GitHubActions"]
    assert distinctive_markers(["aws-cli/", "boto3/"]) == []


def test_ci_key_outside_ci_is_flagged_and_correlated(tmp_path):
    t = T0 + timedelta(days=3)
    outside = [ct.record("ListUsers", identity=ci_identity(), ip=ATTACKER,
                         ua="aws-cli/2.15.0 Python/3.11 Linux/6.5",
                         time=ts(t + timedelta(minutes=i))) for i in range(3)]
    create = ct.create_access_key("web-admin", "AKIAKEYA000000000001", identity=ci_identity(),
                                  time=ts(t + timedelta(minutes=10)), ip=ATTACKER,
                                  ua="aws-cli/2.15.0 Python/3.11 Linux/6.5")
    conn = store_with(tmp_path, [*routine(), *outside, create])
    flagged = ci_key_alerts(conn, ["exec-env/GitHubActions", "aws-cli/"])
    assert [a.rule_id for a in flagged] == [RULE_ID]
    assert set(flagged[0].event_ids) == {e["eventID"] for e in [*outside, create]}
    assert flagged[0].access_key_id == CI_KEY
    res = correlate(conn, [*flagged, alert("key_for_other_user", [create], "medium",
                                           "persistence")])
    (inc,) = res.incidents
    assert inc.root_access_key == CI_KEY and inc.source_ips == [ATTACKER]


def test_hunt_cli_takes_a_profile(tmp_path, cli):
    t = T0 + timedelta(days=3)
    outside = ct.record("ListUsers", identity=ci_identity(), ip=ATTACKER, ua="curl/8.0",
                        time=ts(t))
    ct.write_aws_layout(tmp_path / "src", [*routine(), outside], per_file=500)
    prof = tmp_path / "profiles.json"
    prof.write_text(json.dumps({"schema_version": 1, "profiles": [{
        "workflow": ".github/workflows/deploy.yml", "ci": "github", "jobs": ["deploy"],
        "secret_names": ["AWS_ACCESS_KEY_ID"], "aws_region": None, "runner": "github-hosted",
        "user_agent_markers": ["exec-env/GitHubActions"], "expected_apis_hint": [],
        "lines": [1]}]}))
    code, _, err = cli("hunt", str(tmp_path / "src"), "--out", str(tmp_path / "out"),
                       "--ci-profile", str(prof), "--no-sigma")
    assert code == 0, err
    rules = [json.loads(x)["rule_id"] for x in
             (tmp_path / "out/alerts.ndjson").read_text().splitlines()]
    assert RULE_ID in rules
    code, _, err = cli("hunt", str(tmp_path / "src"), "--out", str(tmp_path / "out2"),
                       "--ci-profile", str(tmp_path / "missing.json"))
    assert code == 2 and err.count("\n") == 1
