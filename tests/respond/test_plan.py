"""The plan for the simulator's `full` scenario, from the store alone, with no AWS at all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

from trailhound.respond import plan_for
from trailhound.store.engine import Store

KEY_RE = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


def _plan_json(cli, store: Path, incident: str) -> dict:
    code, out, err = cli("respond", "--store", str(store), "--incident", incident,
                         "--format", "json")
    assert code == 0, err
    return orjson.loads(out)


def test_names_every_attacker_key_and_no_legitimate_only_key(cli, corpus) -> None:
    doc = _plan_json(cli, corpus.store, corpus.incident["id"])
    text = orjson.dumps(doc).decode()
    named = set(KEY_RE.findall(text))
    attacker = set(corpus.truth["attack"]["access_keys"])
    assert {k for k in attacker if k.startswith("AKIA")} <= named
    assert named <= attacker, f"plan names keys the attacker never used: {named - attacker}"
    # Keys that only the legitimate side used exist in this corpus, and none is named.
    conn = Store(corpus.store).connect()
    legit_only = {k for (k,) in conn.execute(
        "SELECT DISTINCT access_key_id FROM events WHERE access_key_id LIKE 'AKIA%'").fetchall()
    } - attacker
    conn.close()
    assert legit_only and not (legit_only & named)
    kinds = {k["key"]: k["kind"] for k in doc["attacker_keys"]}
    assert kinds[corpus.truth["attack"]["root_access_key"]] == "stolen"
    assert "created" in kinds.values()


def test_says_what_deactivating_the_shared_ci_key_breaks(cli, corpus) -> None:
    root = corpus.truth["attack"]["root_access_key"]
    doc = _plan_json(cli, corpus.store, corpus.incident["id"])
    step = next(s for s in doc["steps"] if s["id"] == f"deactivate-access-key:{root}")
    assert step["api_calls"] == [{"service": "iam", "operation": "UpdateAccessKey", "params": {
        "UserName": corpus.ci_user, "AccessKeyId": root, "Status": "Inactive"}}]
    blast = step["blast_radius"]
    assert "GitHub Actions" in blast and "rotate CI to a new credential" in blast
    runners = set(corpus.truth["attack"]["legitimate_ips_of_stolen_key"])
    assert any(ip in blast for ip in runners)
    assert not any(ip in blast for ip in corpus.incident["source_ips"])
    assert "--status Active" in step["undo"]
    # The replacement comes before the deactivation it protects.
    ids = [s["id"] for s in doc["steps"]]
    assert ids.index(f"replace-credential:{root}") < ids.index(step["id"])


def test_order_evidence_first_delete_last_and_irreversible(corpus) -> None:
    plan = plan_for(corpus.store, corpus.incident["id"])
    ids = [s.id for s in plan.steps]
    assert ids[0].startswith("preserve-evidence:")
    created = [k.key for k in plan.attacker_keys if k.kind == "created"]
    assert created
    for key in created:
        delete = plan.step(f"delete-access-key:{key}")
        assert delete.irreversible
        assert ids.index(f"deactivate-access-key:{key}") < ids.index(delete.id)
        assert all(ids.index(s.id) < ids.index(delete.id)
                   for s in plan.steps if s.action == "attach-deny-all-policy")
        assert f"deactivate-access-key:{key}" in delete.requires
        assert any(r.startswith("preserve-evidence:") for r in delete.requires)
    quarantine = [s for s in plan.steps if s.action == "attach-deny-all-policy"]
    assert {s.target.rsplit("/", 1)[-1] for s in quarantine} == {corpus.ci_user,
                                                                 corpus.target_user}
    assert all(s.calls[0].operation == "PutUserPolicy" and s.calls[0].params["PolicyName"]
               == f"trailhound-quarantine-{plan.incident_id}" for s in quarantine)
    ips = plan.step(f"block-source-ips:{plan.incident_id}")
    assert ips.mode == "manual" and not ips.calls and "aws:SourceIp" in ips.params["hint"]
    assert all(s.status == "pending" for s in plan.steps if s.mode == "automatic")


def test_table_and_prefix(cli, corpus) -> None:
    code, out, err = cli("respond", "--store", str(corpus.store), "--incident",
                         corpus.incident["id"][:8])
    assert code == 0, err
    assert "Containment plan" in out and "Nothing was changed" in out
    assert corpus.truth["attack"]["root_access_key"] in out


def test_bad_input_exits_2(cli, corpus, tmp_path) -> None:
    code, _, err = cli("respond", "--store", str(corpus.store), "--incident", "INC-NOPE")
    assert code == 2 and "no incident 'INC-NOPE'" in err and err.count("\n") == 1
    code, _, err = cli("respond", "--store", str(tmp_path), "--incident", "x")
    assert code == 2 and "store" in err
    # --execute off a terminal without --yes refuses before any AWS client exists.
    code, _, err = cli("respond", "--store", str(corpus.store), "--incident",
                       corpus.incident["id"], "--execute")
    assert code == 2 and "--yes" in err
    assert not (corpus.store / "actions").exists()


def test_planning_loads_no_aws_sdk_and_opens_no_socket(corpus) -> None:
    """In a fresh interpreter with sockets disabled: the plan and its rendering work, and
    neither boto3 nor botocore was ever imported."""
    code = f"""
import socket, sys
def refuse(*a, **k):
    raise AssertionError("network used")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
from trailhound.cli import main
rc = main(["respond", "--store", {str(corpus.store)!r}, "--incident",
           {corpus.incident["id"]!r}, "--format", "json"])
assert rc == 0, rc
bad = [m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore")]
assert not bad, bad
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert corpus.incident["id"] in r.stdout
