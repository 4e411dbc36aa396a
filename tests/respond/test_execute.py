"""`respond --execute` against moto's IAM server over HTTP: the resulting IAM state, the action
log, and a resumed run after a failure injected on the wire."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from respond.moto_iam import FailOnce, create_key, iam
from trailhound.respond import ActionLog, AwsOptions, execute
from trailhound.respond.facts import Facts, KeyFacts, LegitUse
from trailhound.respond.plan import REVOKE_POLICY_NAME, build


def _setup_incident_iam(url: str, corpus: Any) -> dict[str, str]:
    """IAM as it was when the incident was found: the CI user with the stolen key (and a
    second, legitimate-only key), the user the attacker gave a key, with its own old key."""
    client = iam(url)
    ci, target = corpus.ci_user, corpus.target_user
    for user in (ci, target):
        client.create_user(UserName=user)
    keys = {
        "root": create_key(url, ci, corpus.truth["attack"]["root_access_key"]),
        "ci_spare": create_key(url, ci),
        "legacy_own": create_key(url, target),
        "created": create_key(url, target, corpus.created_key),
    }
    client.create_user(UserName="bystander")
    keys["bystander"] = create_key(url, "bystander")
    return keys


def _status(url: str, user: str) -> dict[str, str]:
    meta = iam(url).list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {m["AccessKeyId"]: m["Status"] for m in meta}


def _log(store: Path, incident: str) -> list[dict]:
    path = store / "actions" / f"{incident}.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _ops(entries: list[dict], op: str) -> list[dict]:
    return [e for e in entries if e["kind"] == "call" and e["request"]["operation"] == op]


def _assert_contained(url: str, corpus: Any, keys: dict[str, str]) -> None:
    inc = corpus.incident["id"]
    ci = _status(url, corpus.ci_user)
    assert ci[keys["root"]] == "Inactive"
    assert ci[keys["ci_spare"]] == "Active"  # the plan never named it
    legacy = _status(url, corpus.target_user)
    assert keys["created"] not in legacy  # deleted after evidence and deactivation
    assert legacy[keys["legacy_own"]] == "Active"
    assert _status(url, "bystander")[keys["bystander"]] == "Active"
    for user in (corpus.ci_user, corpus.target_user):
        pol = iam(url).get_user_policy(UserName=user, PolicyName=f"trailhound-quarantine-{inc}")
        stmt = pol["PolicyDocument"]["Statement"][0]
        assert (stmt["Effect"], stmt["Action"], stmt["Resource"]) == ("Deny", "*", "*")
    assert iam(url).list_user_policies(UserName="bystander")["PolicyNames"] == []


def test_execute_contains_the_incident_and_logs_every_call(cli, corpus, store, aws_env) -> None:
    keys = _setup_incident_iam(aws_env, corpus)
    inc = corpus.incident["id"]
    code, out, err = cli("respond", "--store", str(store), "--incident", inc, "--execute",
                         "--yes", "--format", "json", "--endpoint-url", aws_env,
                         "--region", "eu-west-1")
    assert code == 0, err
    doc = orjson.loads(out)
    assert doc["execution"]["complete"] and doc["remaining"] == []
    assert doc["execution"]["account"] == corpus.incident["accounts"][0]
    _assert_contained(aws_env, corpus, keys)

    log = _log(store, inc)
    assert all(e["incident"] == inc and e["time"].endswith("Z") for e in log)
    # Evidence was read before any change: its ListAccessKeys shows the attacker's key Active.
    first_change = next(i for i, e in enumerate(log) if e["kind"] == "call"
                        and e["request"]["operation"] in ("UpdateAccessKey", "PutUserPolicy"))
    evidence = [e for e in log[:first_change] if e["step"].startswith("preserve-evidence:")]
    listed = {m["AccessKeyId"]: m["Status"] for e in evidence
              if e["kind"] == "call" and e["request"]["operation"] == "ListAccessKeys"
              for m in e["response"]["AccessKeyMetadata"]}
    assert listed[keys["created"]] == "Active" and listed[keys["root"]] == "Active"
    assert {e["request"]["params"]["AccessKeyId"] for e in _ops(log, "GetAccessKeyLastUsed")
            } >= {keys["root"], keys["created"]}
    # One mutating call per change, each answered, each step closed with a result.
    updates = _ops(log, "UpdateAccessKey")
    assert sorted(e["request"]["params"]["AccessKeyId"] for e in updates) == sorted(
        [keys["root"], keys["created"]])
    assert all(e["result"] == "ok" and e["response"]["_request_id"] for e in updates)
    assert [e["request"]["params"]["AccessKeyId"] for e in _ops(log, "DeleteAccessKey")] == [
        keys["created"]]
    assert len(_ops(log, "PutUserPolicy")) == 2
    results = {e["step"]: e["result"] for e in log if e["kind"] == "step"}
    assert set(results.values()) == {"done"}
    assert results.keys() == {s["id"] for s in doc["steps"] if s["mode"] == "automatic"}
    assert all(e["actor"] for e in log if e["kind"] == "step")

    # A second run changes nothing and repeats no change.
    code, out, err = cli("respond", "--store", str(store), "--incident", inc, "--execute",
                         "--yes", "--endpoint-url", aws_env)
    assert code == 0, err
    again = _log(store, inc)[len(log):]
    assert not [e for e in again if e["kind"] == "call" and e["request"]["operation"] in (
        "UpdateAccessKey", "PutUserPolicy", "DeleteAccessKey", "GetUser")]
    assert not [e for e in again if e["kind"] == "step"]
    # And the plan, printed without --execute, shows every automatic step done.
    plan = orjson.loads(cli("respond", "--store", str(store), "--incident", inc,
                            "--format", "json")[1])
    assert all(s["status"] == "done" and s["done_at"] for s in plan["steps"]
               if s["mode"] == "automatic")


def test_resumes_after_a_failure_injected_on_the_wire(cli, corpus, store, aws_env) -> None:
    keys = _setup_incident_iam(aws_env, corpus)
    inc = corpus.incident["id"]
    proxy = FailOnce(aws_env, "PutUserPolicy")
    try:
        code, _, err = cli("respond", "--store", str(store), "--incident", inc,
                             "--execute", "--yes", "--endpoint-url", proxy.url)
        assert code == 3
        assert proxy.failed == 1
        line = err.strip().splitlines()[-1]
        assert "quarantine-user:" in line and "AccessDenied" in line
        assert "remaining:" in line and f"delete-access-key:{keys['created']}" in line
        # Stopped at the failure: keys are off, nothing after it ran, nothing deleted.
        assert _status(aws_env, corpus.ci_user)[keys["root"]] == "Inactive"
        assert _status(aws_env, corpus.target_user)[keys["created"]] == "Inactive"
        first = _log(store, inc)
        failed = [e for e in first if e["kind"] == "step" and e["result"] == "failed"]
        assert len(failed) == 1 and "AccessDenied" in failed[0]["detail"]
        err_call = [e for e in first if e.get("error")]
        assert err_call[-1]["error"]["code"] == "AccessDenied"
        assert not _ops(first, "DeleteAccessKey")

        code, _, err = cli("respond", "--store", str(store), "--incident", inc,
                             "--execute", "--yes", "--endpoint-url", proxy.url)
        assert code == 0, err
    finally:
        proxy.close()
    _assert_contained(aws_env, corpus, keys)
    log = _log(store, inc)
    second = log[len(first):]
    # Done steps were not repeated: no second deactivation, no second evidence read.
    assert len(_ops(log, "UpdateAccessKey")) == 2
    assert not _ops(second, "UpdateAccessKey") and not _ops(second, "GetUser")
    assert len(_ops(log, "DeleteAccessKey")) == 1
    assert len([e for e in _ops(log, "PutUserPolicy") if e["result"] == "ok"]) == 2
    done = {e["step"] for e in second if e["kind"] == "step" and e["result"] == "done"}
    assert failed[0]["step"] in done and f"delete-access-key:{keys['created']}" in done


def test_revokes_role_sessions_once_and_skips_other_accounts(store, aws_env, corpus,
                                                             monkeypatch) -> None:
    """A lineage with an assumed role: the revoke-older-sessions policy lands on the role,
    a re-run keeps its time; a role in another account is left for that account's
    credentials."""
    acct = corpus.incident["accounts"][0]
    other = "210987654321"
    role = f"arn:aws:iam::{acct}:role/backup-restore"
    foreign = f"arn:aws:iam::{other}:role/OpsCrossAccountBackup"
    iam(aws_env).create_role(RoleName="backup-restore", AssumeRolePolicyDocument="{}")
    none = LegitUse()
    facts = Facts(
        keys=[KeyFacts("ASIAAAAAAAAAAAAAAAA1", "session", acct, None, role, None, None, none),
              KeyFacts("ASIAAAAAAAAAAAAAAAA2", "session", other, None, foreign, None, None,
                       none)],
        roles={role: none, foreign: none},
        role_sessions={role: ["ASIAAAAAAAAAAAAAAAA1"], foreign: ["ASIAAAAAAAAAAAAAAAA2"]},
        users_other_keys={}, user_legit={}, bucket_changes=[], trail_prefixes={},
        data_end=None)
    inc = {"id": "INC-ROLETEST0001", "title": "t", "severity": "high",
           "first_seen": "2026-03-17T00:00:00Z", "accounts": [acct, other],
           "source_ips": ["203.0.113.7"], "principals": [], "access_keys": []}
    plan = build(inc, facts)
    step = plan.step(f"revoke-role-sessions:{role}")
    assert step.calls[0].operation == "PutRolePolicy"
    assert step.calls[0].params["PolicyName"] == REVOKE_POLICY_NAME
    log = ActionLog.for_incident(store, inc["id"])
    before = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = execute(plan, log, AwsOptions(endpoint_url=aws_env))
    assert res.failed is None
    assert [s.id for s in res.remaining] == [f"preserve-evidence:{other}",
                                             f"revoke-role-sessions:{foreign}"]
    assert {r.result for r in res.reports if r.id.endswith(other) or foreign in r.id} == {
        "other-account"}
    doc = iam(aws_env).get_role_policy(RoleName="backup-restore",
                                       PolicyName=REVOKE_POLICY_NAME)["PolicyDocument"]
    stmt = doc["Statement"][0]
    assert stmt["Effect"] == "Deny" and stmt["Action"] == ["*"]
    t = stmt["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert t >= before
    res2 = execute(build(inc, facts), log, AwsOptions(endpoint_url=aws_env))
    assert res2.failed is None
    puts = [e for e in log.entries() if e["kind"] == "call"
            and e["request"]["operation"] == "PutRolePolicy"]
    assert len(puts) == 1
    doc2 = iam(aws_env).get_role_policy(RoleName="backup-restore",
                                        PolicyName=REVOKE_POLICY_NAME)["PolicyDocument"]
    assert doc2 == doc


def test_a_revoke_policy_already_set_later_by_the_console_is_kept(store, aws_env,
                                                                 corpus) -> None:
    acct = corpus.incident["accounts"][0]
    role = f"arn:aws:iam::{acct}:role/backup-restore"
    client = iam(aws_env)
    client.create_role(RoleName="backup-restore", AssumeRolePolicyDocument="{}")
    console = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2099-01-01T00:00:00.000Z"}}}]}
    client.put_role_policy(RoleName="backup-restore", PolicyName=REVOKE_POLICY_NAME,
                           PolicyDocument=orjson.dumps(console).decode())
    none = LegitUse()
    facts = Facts(keys=[KeyFacts("ASIAAAAAAAAAAAAAAAA1", "session", acct, None, role, None,
                                 None, none)], roles={role: none},
                  role_sessions={role: ["ASIAAAAAAAAAAAAAAAA1"]}, users_other_keys={},
                  user_legit={}, bucket_changes=[], trail_prefixes={}, data_end=None)
    inc = {"id": "INC-ROLETEST0002", "accounts": [acct], "first_seen": None}
    log = ActionLog.for_incident(store, inc["id"])
    res = execute(build(inc, facts), log, AwsOptions(endpoint_url=aws_env))
    assert res.complete
    assert {r.id: r.result for r in res.reports}[f"revoke-role-sessions:{role}"] == \
        "already-done"
    assert not [e for e in log.entries() if e["kind"] == "call"
                and e["request"]["operation"] == "PutRolePolicy"]
    assert client.get_role_policy(RoleName="backup-restore", PolicyName=REVOKE_POLICY_NAME
                                  )["PolicyDocument"] == console


def test_a_vanished_user_fails_with_what_remains(cli, corpus, store, aws_env) -> None:
    """The attacker's key's owner is gone (deleted by someone mid-incident): the step fails
    clearly, exit 3, and the log holds IAM's answer."""
    keys = _setup_incident_iam(aws_env, corpus)
    client = iam(aws_env)
    missing = corpus.target_user
    for k in (keys["created"], keys["legacy_own"]):
        client.delete_access_key(UserName=missing, AccessKeyId=k)
    client.delete_user(UserName=missing)
    code, _, err = cli("respond", "--store", str(store), "--incident", corpus.incident["id"],
                       "--execute", "--yes", "--endpoint-url", aws_env)
    # A deleted key cannot be used: deactivation counts as done; the quarantine of a user
    # that no longer exists fails with NoSuchEntity and names what remains.
    assert code == 3
    assert "NoSuchEntity" in err and "quarantine-user:arn:aws:iam::" in err
    assert _status(aws_env, corpus.ci_user)[keys["root"]] == "Inactive"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_asks_on_a_terminal_and_does_nothing_when_declined(cli, corpus, store, aws_env,
                                                            monkeypatch) -> None:
    keys = _setup_incident_iam(aws_env, corpus)
    inc = corpus.incident["id"]
    args = ("respond", "--store", str(store), "--incident", inc, "--execute",
            "--endpoint-url", aws_env)
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    code, _, err = cli(*args)
    assert code == 2 and "not confirmed" in err and "irreversible" in err
    assert not (store / "actions").exists()
    assert _status(aws_env, corpus.ci_user)[keys["root"]] == "Active"
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    code, _, err = cli(*args)
    assert code == 0, err
    _assert_contained(aws_env, corpus, keys)
