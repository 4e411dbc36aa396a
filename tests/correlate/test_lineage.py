"""Correlation on small hand-made lineages, with hand-made alerts: the logic in isolation.

Each corpus has a CI key with three days of routine use from its runners, then whatever the
test adds. Alerts are given directly (as detection would raise them) so these tests pin down
what correlation does with them, independent of rule tuning.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import cloudtrail as ct
from ci_corpus import ATTACKER, CI_KEY, CI_UA, RUNNERS, T0, alert, ci_identity, routine, run, ts
from trailhound.store.engine import Store


def test_stolen_key_chain_of_created_keys(tmp_path):
    """stolen CI key -> key for user A -> key for user B; CI keeps deploying meanwhile."""
    recs = routine()
    t = T0 + timedelta(days=3, hours=2)
    validate = ct.get_caller_identity(identity=ci_identity(), time=ts(t), ip=ATTACKER,
                                      ua="TruffleHog")
    create_a = ct.create_access_key("web-admin", "AKIAKEYA000000000001", identity=ci_identity(),
                                    time=ts(t + timedelta(minutes=10)), ip=ATTACKER,
                                    ua="aws-cli/1.32.0 Python/3.8")
    key_a = ct.iam_user_identity("web-admin", "AKIAKEYA000000000001")
    create_b = ct.create_access_key("backup-svc", "AKIAKEYB000000000001", identity=key_a,
                                    time=ts(t + timedelta(hours=5)), ip="198.51.100.200",
                                    ua="aws-cli/1.32.0 Python/3.8")
    key_b = ct.iam_user_identity("backup-svc", "AKIAKEYB000000000001")
    reads = [ct.get_object("tenant-x", f"dump/{i}.sql", 1000 + i, identity=key_b,
                           time=ts(t + timedelta(days=1, minutes=i)), ip="198.51.100.201")
             for i in range(20)]
    reads.append(ct.get_object("tenant-x", "dump/0.sql", 1000, identity=key_b,
                               time=ts(t + timedelta(days=1, hours=2)), ip="198.51.100.201"))
    denied = ct.get_object("tenant-y", "secret", 50, identity=key_b,
                           time=ts(t + timedelta(days=1, hours=3)), ip="198.51.100.201",
                           errorCode="AccessDenied")
    recs += [validate, create_a, create_b, *reads, denied]
    alerts = [
        alert("validator_ua", [validate], "medium", "credential-validation"),
        alert("key_for_other_user", [create_a], "high", "persistence"),
    ]
    res = run(tmp_path, recs, alerts, tenants={"tenant-x": "Client X"})
    assert len(res.incidents) == 1
    inc = res.incidents[0]
    assert inc.root_access_key == CI_KEY
    assert inc.access_keys == sorted([CI_KEY, "AKIAKEYA000000000001", "AKIAKEYB000000000001"])
    assert set(inc.source_ips) == {ATTACKER, "198.51.100.200", "198.51.100.201"}
    assert not set(inc.source_ips) & set(RUNNERS)
    assert {"credential-validation", "persistence", "collection"} <= set(inc.stages)
    assert inc.severity == "critical"
    (bucket,) = inc.buckets
    assert (bucket.name, bucket.objects_read, bucket.get_object_events, bucket.tenant) == (
        "tenant-x", 20, 21, "Client X")
    assert bucket.bytes_out == sum(1000 + i for i in range(20)) + 1000
    assert inc.first_seen == datetime(2026, 3, 19, 2, 0, 0)
    principals = set(inc.principals)
    assert "arn:aws:iam::111122223333:user/web-admin" in principals
    assert "arn:aws:iam::111122223333:user/backup-svc" in principals
    # CI's own deployments are not the attacker's.
    assert inc.attacker_events == 3 + 22


def test_assume_role_chain_across_two_accounts(tmp_path):
    recs = routine()
    t = T0 + timedelta(days=3, hours=1)
    validate = ct.get_caller_identity(identity=ci_identity(), time=ts(t), ip=ATTACKER,
                                      ua="TruffleHog")
    hop1 = ct.assume_role(f"arn:aws:iam::{ct.OTHER_ACCOUNT}:role/ops", "x",
                          "ASIAHOP1000000000001", identity=ci_identity(),
                          time=ts(t + timedelta(minutes=5)), ip=ATTACKER, ua="aws-cli/1.32.0",
                          sharedEventID="shared-hop1")
    # The same call as logged in the role's account.
    hop1_twin = dict(hop1, eventID="hop1-twin", recipientAccountId=ct.OTHER_ACCOUNT,
                     userIdentity={"type": "AWSAccount", "principalId": "AIDAEXAMPLE",
                                   "accountId": ct.ACCOUNT})
    s1 = ct.assumed_role_identity("ops", "x", "ASIAHOP1000000000001", ct.OTHER_ACCOUNT)
    hop2 = ct.assume_role(f"arn:aws:iam::{ct.OTHER_ACCOUNT}:role/backup-restore", "y",
                          "ASIAHOP2000000000001", identity=s1,
                          time=ts(t + timedelta(minutes=20)), ip=ATTACKER, ua="aws-cli/1.32.0",
                          account=ct.OTHER_ACCOUNT)
    s2 = ct.assumed_role_identity("backup-restore", "y", "ASIAHOP2000000000001",
                                  ct.OTHER_ACCOUNT)
    reads = [ct.get_object("backups-eu", f"db/{i}", 5000, identity=s2, account=ct.OTHER_ACCOUNT,
                           time=ts(t + timedelta(hours=1, minutes=i)), ip=ATTACKER)
             for i in range(5)]
    recs += [validate, hop1, hop1_twin, hop2, *reads]
    alerts = [alert("validator_ua", [validate], "medium", "credential-validation"),
              alert("assume_new_account", [hop1], "medium", "lateral-movement")]
    res = run(tmp_path, recs, alerts)
    (inc,) = res.incidents
    assert inc.root_access_key == CI_KEY
    assert set(inc.access_keys) == {CI_KEY, "ASIAHOP1000000000001", "ASIAHOP2000000000001"}
    assert set(inc.accounts) == {ct.ACCOUNT, ct.OTHER_ACCOUNT}
    assert "lateral-movement" in inc.stages
    (bucket,) = inc.buckets
    assert (bucket.name, bucket.account, bucket.objects_read, bucket.bytes_out) == (
        "backups-eu", ct.OTHER_ACCOUNT, 5, 25000)
    assert inc.source_ips == [ATTACKER]
    # The twin record in the role's account is attributed with the call it mirrors.
    evidence_ids = {r[0] for r in res_conn_ids(tmp_path)}
    assert "hop1-twin" in evidence_ids


def res_conn_ids(tmp_path):
    return Store(tmp_path / "store").connect().execute(
        "SELECT event_id FROM events WHERE shared_event_id = 'shared-hop1'").fetchall()


def test_admin_key_rotation_is_not_an_incident(tmp_path):
    """An administrator creates a key for another user from their usual desk: alert only."""
    recs = routine()
    admin = ct.iam_user_identity("alice-admin", "AKIAADMIN00000000001")
    t = T0
    admin_recs = []
    while t < T0 + timedelta(days=5):
        admin_recs.append(ct.record("ListUsers", identity=admin, time=ts(t), ip="192.0.2.50",
                                    ua="aws-cli/2.15.0 Python/3.11"))
        t += timedelta(hours=3)
    rotate = ct.create_access_key("ci-deploy", "AKIANEWCI00000000001", identity=admin,
                                  time=ts(T0 + timedelta(days=3, hours=9, minutes=1)),
                                  ip="192.0.2.50", ua="aws-cli/2.15.0 Python/3.11")
    recs += [*admin_recs, rotate]
    res = run(tmp_path, recs, [alert("key_for_other_user", [rotate], "high", "persistence")])
    assert res.incidents == []


def test_travel_new_ip_same_behaviour_is_not_an_incident(tmp_path):
    """The owner works from a new address, doing what they always do: not the attacker."""
    recs = routine()
    t = T0 + timedelta(days=3, hours=4)
    trip = [ct.record("PutObject", source="s3.amazonaws.com", identity=ci_identity(),
                      time=ts(t + timedelta(minutes=i)), ip="100.64.9.9", ua=CI_UA,
                      request={"bucketName": "releases", "key": f"hotfix/{i}"})
            for i in range(5)]
    recs += trip
    res = run(tmp_path, recs, [alert("new_network", trip, "medium", "credential-validation"),
                               alert("odd", trip[:1], "high", "persistence")])
    assert res.incidents == []
    # Weighed like the owner (its client, only its calls), so nothing there is evidence.
    trip_use = res.attribution.judged[(CI_KEY, "100.64.9.0/24", "aws-cli+GitHubActions")]
    assert trip_use.owner_like and not trip_use.evidence


def test_weak_single_signal_is_not_an_incident(tmp_path):
    """A developer's key (the CLI from the office, every day) lists buckets once from a new
    address with the same CLI: one medium alert and a new network weigh, and do not add up."""
    dev = ct.iam_user_identity("dev-ann", "AKIADEVANN0000000001")
    recs = routine() + [
        ct.record("DescribeInstances", source="ec2.amazonaws.com", identity=dev,
                  time=ts(T0 + timedelta(hours=h)), ip="192.0.2.60",
                  ua="aws-cli/2.15.0 Python/3.11") for h in range(9, 24 * 4, 6)]
    odd = ct.record("ListBuckets", source="s3.amazonaws.com", identity=dev,
                    time=ts(T0 + timedelta(days=4)), ip="198.51.100.9", ua="aws-cli/1.0")
    recs.append(odd)
    res = run(tmp_path, recs, [alert("new_network", [odd], "medium", "discovery")])
    assert res.incidents == []


def test_ci_key_used_once_outside_ci_is_a_leak_not_a_high_incident(tmp_path):
    """A CI key (only ever used by its pipeline) lists buckets once with a plain CLI from a
    new address: the credential is outside its environment, so it has leaked; nothing was
    done with it yet, so it is a medium incident to rotate, not a high one."""
    recs = routine()
    odd = ct.record("ListBuckets", source="s3.amazonaws.com", identity=ci_identity(),
                    time=ts(T0 + timedelta(days=4)), ip="198.51.100.9", ua="aws-cli/1.0")
    recs.append(odd)
    (inc,) = run(tmp_path, recs, [alert("new_network", [odd], "medium", "discovery")]
                 ).incidents
    assert inc.severity == "medium" and inc.validation_only
    assert inc.source_ips == ["198.51.100.9"]
    assert any(e["name"] == "outside-ci" for e in inc.evidence)


def test_climbs_to_the_stolen_key_when_only_late_stages_alert(tmp_path):
    """Detection caught only the mass reads of the created key; the key that created it did
    so from a network it never used, so it is the stolen root of the same incident."""
    recs = routine()
    t = T0 + timedelta(days=3, hours=2)
    create = ct.create_access_key("web-admin", "AKIAKEYA000000000001", identity=ci_identity(),
                                  time=ts(t), ip=ATTACKER, ua="aws-cli/1.32.0 Python/3.8")
    key_a = ct.iam_user_identity("web-admin", "AKIAKEYA000000000001")
    reads = [ct.get_object("tenant-x", f"f/{i}", 10, identity=key_a,
                           time=ts(t + timedelta(hours=1, minutes=i)), ip="198.51.100.201")
             for i in range(30)]
    recs += [create, *reads]
    alerts = [alert("mass_read", reads, "high", "collection"),
              alert("bucket_enum", reads[:3], "medium", "discovery")]
    (inc,) = run(tmp_path, recs, alerts).incidents
    assert inc.root_access_key == CI_KEY
    assert set(inc.access_keys) == {CI_KEY, "AKIAKEYA000000000001"}
    assert ATTACKER in inc.source_ips and not set(inc.source_ips) & set(RUNNERS)


def test_no_climb_past_a_legitimate_creation(tmp_path):
    """An administrator issued the key from their usual desk; it was stolen later. The admin
    is not part of the incident."""
    recs = routine()
    admin = ct.iam_user_identity("alice-admin", "AKIAADMIN00000000001")
    t = T0
    while t < T0 + timedelta(days=5):
        recs.append(ct.record("ListUsers", identity=admin, time=ts(t), ip="192.0.2.50",
                              ua="aws-cli/2.15.0 Python/3.11"))
        t += timedelta(hours=3)
    create = ct.create_access_key("svc", "AKIASVC0000000000001", identity=admin,
                                  time=ts(T0 + timedelta(days=1, hours=1)), ip="192.0.2.50",
                                  ua="aws-cli/2.15.0 Python/3.11")
    svc = ct.iam_user_identity("svc", "AKIASVC0000000000001")
    validate = ct.get_caller_identity(identity=svc, time=ts(T0 + timedelta(days=4)),
                                      ip=ATTACKER, ua="TruffleHog")
    reads = [ct.get_object("tenant-x", f"f/{i}", 10, identity=svc,
                           time=ts(T0 + timedelta(days=4, minutes=i + 1)), ip=ATTACKER)
             for i in range(10)]
    recs += [create, validate, *reads]
    alerts = [alert("validator_ua", [validate], "medium", "credential-validation"),
              alert("mass_read", reads, "high", "collection")]
    (inc,) = run(tmp_path, recs, alerts).incidents
    assert inc.root_access_key == "AKIASVC0000000000001"
    assert "AKIAADMIN00000000001" not in inc.access_keys


def test_validation_only_is_a_medium_leak_not_a_high_incident(tmp_path):
    """A key whose only attacker activity is being validated: rotate it, but it is not (yet)
    a stolen-key incident; the same key doing anything else would be."""
    recs = routine()
    checks = [ct.get_caller_identity(identity=ci_identity(), ip=ATTACKER, ua="TruffleHog",
                                     time=ts(T0 + timedelta(days=3, seconds=s)))
              for s in (0, 3)]
    recs += checks
    (inc,) = run(tmp_path, recs, [alert("validator_ua", checks, "medium", "discovery")]
                 ).incidents
    assert inc.severity == "medium"
    assert "validated" in inc.title


def test_routine_security_scanner_on_a_new_host_is_not_an_incident(tmp_path):
    """A security team runs Prowler with its own key every day; one day from a new host.
    The tool is the key's routine, so it is not evidence of theft."""
    scanner = ct.iam_user_identity("sec-audit", "AKIASCANNER000000001")
    ua = "prowler/4.2.0 boto3/1.34 Python/3.11"
    recs = routine()
    days = []
    for d in range(5):
        ip = "192.0.2.80" if d < 4 else "198.51.100.80"
        burst = [ct.record(name, source=src, identity=scanner, ip=ip, ua=ua, read_only=True,
                           time=ts(T0 + timedelta(days=d, hours=2, seconds=i)))
                 for i, (src, name) in enumerate([("sts.amazonaws.com", "GetCallerIdentity"),
                                                  ("iam.amazonaws.com", "ListUsers"),
                                                  ("s3.amazonaws.com", "ListBuckets")] * 3)]
        days.append(burst)
        recs += burst
    last = days[-1]
    alerts = [alert("offensive_tool_ua", d, "medium", "discovery") for d in days]
    alerts.append(alert("new_network", last, "medium", "credential-validation"))
    assert run(tmp_path, recs, alerts).incidents == []
