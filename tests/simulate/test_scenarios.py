"""What each scenario puts in the records, checked against the records themselves."""

from __future__ import annotations

import pytest

from trailhound.simulate import STAGES, generate, verify

from .conftest import distinct


def _attack_records(out, truth):
    recs = distinct(out)
    return recs, [recs[i] for i in truth.attack["event_ids"]]


def _key(r):
    return r["userIdentity"].get("accessKeyId")


def test_full_follows_the_reference_chain(corpus):
    out, truth = corpus("full")
    recs, atk = _attack_records(out, truth)
    a = truth.attack
    root = a["root_access_key"]
    assert a["stages"] == [s for s in STAGES if s in a["events_by_stage"]]
    assert {"credential-validation", "discovery", "persistence", "collection",
            "exfiltration"} <= set(a["stages"])
    by_id = {i: s for s, ids in a["events_by_stage"].items() for i in ids}
    first = min(atk, key=lambda r: r["eventTime"])
    # TruffleHog validates the stolen CI key first.
    assert first["eventName"] == "GetCallerIdentity" and _key(first) == root
    assert "trufflehog" in first["userAgent"].lower()
    assert by_id[first["eventID"]] == "credential-validation"
    # CreateAccessKey for another, existing user; the new key is used later from elsewhere.
    created = [r for r in atk if r["eventName"] == "CreateAccessKey" and not r.get("errorCode")]
    assert len(created) == 1
    ck = created[0]
    ci_user = ck["userIdentity"]["userName"]
    target = ck["requestParameters"]["userName"]
    assert target != ci_user
    new_key = ck["responseElements"]["accessKey"]["accessKeyId"]
    assert ck["responseElements"]["accessKey"]["userName"] == target
    assert new_key in a["access_keys"] and root in a["access_keys"]
    used_new = [r for r in atk if _key(r) == new_key]
    assert used_new and min(r["eventTime"] for r in used_new) > ck["eventTime"]
    assert {r["sourceIPAddress"] for r in used_new}.isdisjoint({ck["sourceIPAddress"]})
    # Recon across regions with denials, bucket listing, then mass GetObject with bytes.
    disc = [r for r in used_new if by_id[r["eventID"]] == "discovery"]
    assert len({r["awsRegion"] for r in disc}) >= 3
    assert any(r.get("errorCode") for r in disc)
    assert any(r["eventName"] == "ListBuckets" for r in atk)
    assert any(r["eventName"] == "ListObjectsV2" for r in atk)
    gets = [r for r in atk if r["eventName"] == "GetObject"]
    assert len(gets) >= 300
    assert all(r["eventCategory"] == "Data" and "bytesTransferredOut" in
               r["additionalEventData"] for r in gets)
    # The CI pipeline keeps using the stolen key from its runners, never from attacker IPs.
    legit = [r for i, r in recs.items() if _key(r) == root and i not in set(a["event_ids"])]
    assert legit
    assert {r["sourceIPAddress"] for r in legit} == set(a["legitimate_ips_of_stolen_key"])
    assert set(a["legitimate_ips_of_stolen_key"]).isdisjoint(a["source_ips"])
    assert any("exec-env/GitHubActions" in r["userAgent"] for r in legit)


def test_bucket_impact_is_exact(corpus):
    out, truth = corpus("full")
    _recs, atk = _attack_records(out, truth)
    got = {}
    for r in atk:
        if r["eventName"] == "GetObject" and not r.get("errorCode"):
            b = got.setdefault(r["requestParameters"]["bucketName"], [set(), 0, 0])
            b[0].add(r["requestParameters"]["key"])
            b[1] += 1
            b[2] += r["additionalEventData"]["bytesTransferredOut"]
    assert {b["name"]: [b["objects_read"], b["get_object_events"], b["bytes_out"]]
            for b in truth.attack["s3_buckets"]} == {k: [len(v[0]), v[1], v[2]]
                                                     for k, v in got.items()}
    assert all(b["tenant"] == truth.tenants[b["name"]] for b in truth.attack["s3_buckets"])


def test_quiet_mimics_ci_and_stays_slow(corpus):
    out, truth = corpus("quiet")
    _recs, atk = _attack_records(out, truth)
    a = truth.attack
    assert not any("trufflehog" in r["userAgent"].lower() for r in atk)
    assert set(a["user_agents"]) & set(a["legitimate_user_agents_of_stolen_key"])
    assert len(a["source_ips"]) <= 2
    days = {r["eventTime"][:10] for r in atk if r["eventName"] == "GetObject"}
    per_day = sum(1 for r in atk if r["eventName"] == "GetObject") / max(1, len(days))
    assert per_day <= 500
    assert "defense-evasion" in a["stages"]
    full = corpus("full")[1].attack
    assert len(a["event_ids"]) < len(full["event_ids"])


def test_cross_account_assume_role_is_logged_in_both_accounts(corpus):
    out, truth = corpus("cross-account")
    _recs, atk = _attack_records(out, truth)
    a = truth.attack
    prod, bk = truth.accounts["hosting-prod"], truth.accounts["backups"]
    assumes = [r for r in atk if r["eventName"] == "AssumeRole" and not r.get("errorCode")]
    shared = {}
    for r in assumes:
        if r.get("sharedEventID"):
            shared.setdefault(r["sharedEventID"], []).append(r)
    pair = next(iter(shared.values()))
    assert {r["recipientAccountId"] for r in pair} == {prod, bk}
    assert len({r["requestID"] for r in pair}) == 1 and len({r["eventID"] for r in pair}) == 2
    theirs = next(r for r in pair if r["recipientAccountId"] == bk)
    assert theirs["userIdentity"]["type"] == "AWSAccount"
    # A role session re-assumes a second role; the second session reads backup buckets.
    chained = [r for r in assumes if r["userIdentity"]["type"] == "AssumedRole"]
    assert chained
    session_keys = {r["responseElements"]["credentials"]["accessKeyId"] for r in assumes}
    assert session_keys <= set(a["access_keys"])
    reads = [r for r in atk if r["eventName"] == "GetObject"]
    assert reads and {r["recipientAccountId"] for r in reads} == {bk}
    assert {_key(r) for r in reads} <= session_keys
    assert all(b["account"] == bk for b in a["s3_buckets"])
    assert "lateral-movement" in a["stages"]


def test_lookalikes_are_benign_and_labelled(corpus):
    out, truth = corpus("benign")
    recs = distinct(out)
    kinds = {la["kind"]: la for la in truth.lookalikes}
    assert {"key-rotation", "new-user-key", "iam-access-review", "travel-new-ip", "bulk-read",
            "ci-new-runner", "trufflehog-self-scan", "denied-burst"} <= set(kinds)
    for la in truth.lookalikes:
        assert la["event_ids"] and all(i in recs for i in la["event_ids"])
    rot = [recs[i] for i in kinds["key-rotation"]["event_ids"]]
    names = [r["eventName"] for r in sorted(rot, key=lambda r: r["eventTime"])]
    assert names == ["ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"]
    create = rot[1]
    assert create["userIdentity"]["type"] == "AssumedRole"
    new_key = create["responseElements"]["accessKey"]["accessKeyId"]
    later = [r for r in recs.values() if _key(r) == new_key]
    assert later, "the rotated-to key is used by the job afterwards"
    assert any(r.get("errorCode") for i in kinds["denied-burst"]["event_ids"]
               for r in [recs[i]])


def test_none_has_natural_lookalikes_only(corpus):
    out, _truth = corpus("none")
    recs = distinct(out).values()
    names = {r["eventName"] for r in recs}
    assert {"GetCallerIdentity", "ListUsers", "AssumeRole", "GetObject"} <= names
    assert "CreateAccessKey" not in names
    assert any(r.get("errorCode") for r in recs)
    types = {r["userIdentity"]["type"] for r in recs}
    assert {"IAMUser", "AssumedRole", "AWSService", "AWSAccount", "IdentityCenterUser"} <= types


@pytest.mark.parametrize("scenario", ["full", "quiet", "cross-account"])
def test_attacker_infrastructure_never_serves_benign_traffic(corpus, scenario):
    out, truth = corpus(scenario)
    attack_ids = set(truth.attack["event_ids"])
    benign_ips = {r["sourceIPAddress"] for i, r in distinct(out).items() if i not in attack_ids}
    assert set(truth.attack["source_ips"]).isdisjoint(benign_ips)


@pytest.mark.parametrize("scenario", ["full", "quiet", "cross-account"])
def test_one_day_corpus_still_holds_the_whole_chain(tmp_path, scenario):
    truth = generate(tmp_path / "d1", scenario=scenario, days=1, events_per_day=800, seed=11)
    a = truth.attack
    want = {"full": {"credential-validation", "persistence", "exfiltration"},
            "quiet": {"persistence", "exfiltration", "defense-evasion"},
            "cross-account": {"lateral-movement", "exfiltration"}}[scenario]
    assert want <= set(a["stages"])
    assert truth.start <= a["window"]["start"] <= a["window"]["end"] < truth.end
    assert verify(tmp_path / "d1") == []
