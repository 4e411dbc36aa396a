"""`hunt` on shapes of theft other than the CI key's chain, each written by hand against the
same benign background (a CI pipeline deploying from its runners, an administrator at the
office, a web application's instance role).

Each shape is one a responder meets in real trails: a role chain through three accounts,
federation to the console, misuse from inside the CI network with another client, several
independent thefts in one trail, rotations from a travel network, an attack that starts hours
after the logs do, instance credentials used off the instance, a root console compromise,
and an administrator's own logging work beside a stolen key. Assertions are what the
responder needs from `incidents.json`, never how correlation gets there.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import cloudtrail as ct
from correlate.handmade import (
    ACCT,
    ADMIN_IP,
    ADMIN_KEY,
    ADMIN_UA,
    APP_IP,
    ATK1,
    ATK2,
    ATK3,
    ATK_BOTO,
    ATK_CLI,
    CI_KEY,
    CI_UA,
    CI_USER,
    DAYS,
    OTHER,
    RUNNERS,
    SEVERE,
    T0,
    THEFT,
    Outcome,
    admin_routine,
    api,
    assert_attack_incident,
    assert_no_severe_incident,
    assume_role_pair,
    background,
    ci,
    ci_key_switch,
    create_access_key,
    federated,
    get_caller_identity,
    list_buckets,
    list_objects,
    mass_read,
    plan_bytes,
    run_hunt,
    sts_credentials,
    ts,
    user,
)

THIRD = "777788889999"
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0.0.0 Safari/537.36")


def _events_of(res: Outcome, inc: dict[str, Any], attribution: str) -> list[dict[str, Any]]:
    return [e for e in res.evidence(inc) if e["attribution"] == attribution]


# --------------------------------------------------------------------------- role chains


def test_role_chain_through_three_accounts(cli, tmp_path):
    """Stolen key -> a role in a second account -> from that session, a role in a third
    account, which reads the archive there. Each hop is logged in both accounts."""
    recs = background()
    t = THEFT
    s1, s2 = "ASIACHAINHOPONE00001", "ASIACHAINHOPTWO00001"
    recs.append(get_caller_identity(ci(), t, ATK1, ATK_CLI))
    recs += assume_role_pair(ci(), t + timedelta(minutes=5), ATK1, ATK_CLI,
                             f"arn:aws:iam::{OTHER}:role/ops-bridge", "botocore-session-1", s1,
                             "shared-chain-1")
    hop1 = ct.assumed_role_identity("ops-bridge", "botocore-session-1", s1, OTHER)
    recs += assume_role_pair(hop1, t + timedelta(minutes=9), ATK1, ATK_CLI,
                             f"arn:aws:iam::{THIRD}:role/archive-reader", "botocore-session-2",
                             s2, "shared-chain-2")
    hop2 = ct.assumed_role_identity("archive-reader", "botocore-session-2", s2, THIRD)
    t2 = t + timedelta(minutes=20)
    recs.append(list_buckets(hop2, t2, ATK2, ATK_BOTO, account=THIRD))
    plan = {"archive-2025": 60, "archive-2024": 20}
    recs += mass_read(hop2, t2 + timedelta(minutes=1), ATK2, ATK_BOTO, plan, 5_000_000,
                      account=THIRD)
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY, s1, s2}, attacker_ips={ATK1, ATK2},
                                 stages={"lateral-movement", "collection"},
                                 buckets=plan_bytes(plan, 5_000_000))
    assert set(inc["accounts"]) == {ACCT, OTHER, THIRD}, res.summary()
    assert len(res.incidents) == 1, res.summary()


# --------------------------------------------------------------------------- federation


def test_federation_to_the_console(cli, tmp_path):
    """The stolen key mints a federated user with an allow-all policy, turns it into a
    console sign-in (GetSigninToken, then ConsoleLogin from a browser), and downloads objects
    through the console, whose session has a key of its own."""
    recs = background()
    t = THEFT
    fed_key, console_key = "ASIAFEDERATEDUSER001", "ASIACONSOLESESSION01"
    policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",'
              '"Resource":"*"}]}')
    recs.append(get_caller_identity(ci(), t, ATK1, ATK_CLI))
    recs.append(api("GetFederationToken", "sts.amazonaws.com", ci(), t + timedelta(minutes=2),
                    ATK1, ATK_CLI, request={"name": "ops", "durationSeconds": 43200,
                                            "policy": policy},
                    response={"credentials": sts_credentials(fed_key, t),
                              "federatedUser": {"federatedUserId": f"{ACCT}:ops",
                                                "arn": f"arn:aws:sts::{ACCT}:federated-user/ops"},
                              "packedPolicySize": 9}))
    fed = federated("ops", fed_key, CI_USER, t + timedelta(minutes=2))
    recs.append(api("GetSigninToken", "signin.amazonaws.com", fed, t + timedelta(minutes=4),
                    ATK1, "python-requests/2.31.0", region="us-east-1",
                    request={"SessionDuration": 43200}))
    login = ct.record("ConsoleLogin", source="signin.amazonaws.com", time=ts(t + timedelta(
        minutes=5)), ip=ATK2, ua=BROWSER, region="us-east-1",
        identity={"type": "FederatedUser", "principalId": f"{ACCT}:ops",
                  "arn": f"arn:aws:sts::{ACCT}:federated-user/ops", "accountId": ACCT,
                  "sessionContext": {"sessionIssuer": {
                      "type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/{CI_USER}",
                      "accountId": ACCT, "userName": CI_USER}}},
        response={"ConsoleLogin": "Success"},
        additionalEventData={"MFAUsed": "No", "MobileVersion": "No"})
    login["eventType"] = "AwsConsoleSignIn"
    login.pop("requestID", None)
    recs.append(login)
    console = federated("ops", console_key, CI_USER, t + timedelta(minutes=5))
    t2 = t + timedelta(minutes=8)
    browse = list_buckets(console, t2, ATK2, BROWSER)
    browse["sessionCredentialFromConsole"] = "true"
    recs.append(browse)
    plan = {"tenant-docs": 40}
    reads = mass_read(console, t2 + timedelta(minutes=1), ATK2, "[S3Console/0.4, aws-internal/3 "
                      "aws-sdk-java/1.12.488]", plan, 700_000)
    for r in reads:
        r["sessionCredentialFromConsole"] = "true"
    recs += reads
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY, fed_key, console_key},
                                 attacker_ips={ATK1, ATK2}, stages={"collection"},
                                 buckets=plan_bytes(plan, 700_000))
    assert login["eventID"] in {e["event_id"] for e in _events_of(res, inc, "attacker")}


# --------------------------------------------------------------------------- inside CI


def test_misuse_from_inside_the_ci_network_with_another_client(cli, tmp_path):
    """A poisoned build step on a runner uses the job's key with its own client (boto3,
    which the pipeline never used) from the runner's own address: it lists users and creates
    a key for web-admin, which is then used from outside. The pipeline's own deploys from the
    same runner, meanwhile, are not the attacker's."""
    recs = background()
    t = THEFT
    step_ua = ATK_BOTO + " exec-env/GitHubActions"
    new_key = "AKIAWEBADMINCISTEP01"
    runner = RUNNERS[0]
    recs += [
        get_caller_identity(ci(), t, runner, step_ua),
        api("ListUsers", "iam.amazonaws.com", ci(), t + timedelta(seconds=20), runner, step_ua,
            region="us-east-1"),
        create_access_key(ci(), t + timedelta(seconds=40), runner, step_ua, "web-admin",
                          new_key),
    ]
    wa = user("web-admin", new_key)
    t2 = t + timedelta(hours=5)
    recs.append(list_buckets(wa, t2, ATK2, ATK_CLI))
    plan = {"tenant-db-dumps": 90}
    recs += mass_read(wa, t2 + timedelta(minutes=1), ATK2, ATK_CLI, plan, 2_000_000)
    res = run_hunt(cli, tmp_path, recs)
    inc = res.incident_with(CI_KEY)
    assert inc["severity"] in SEVERE, res.summary()
    assert set(inc["access_keys"]) == {CI_KEY, new_key}, res.summary()
    assert {runner, ATK2} <= set(inc["source_ips"]), res.summary()
    got = {b["name"]: (b["objects_read"], b["bytes_out"])
           for b in inc["resources"]["s3_buckets"]}
    assert got == plan_bytes(plan, 2_000_000), res.summary()
    # The pipeline's own client, from the same runner, is the owner's.
    owner = [e for e in _events_of(res, inc, "attacker") if e["user_agent"] == CI_UA]
    assert not owner, owner[:3]


# --------------------------------------------------------------------------- two thefts

BACKUP_KEY = "AKIABACKUPSVC0000009"
BACKUP_IP = "192.0.2.200"
BACKUP_UA = "rclone/v1.66.0"


def test_two_independent_thefts_are_two_incidents(cli, tmp_path):
    """Two keys stolen by two actors in one trail: the CI key (validated with TruffleHog,
    a key created for web-admin, reads), and days later the backup service's key (reads from
    another country with another tool). Two incidents, neither holding the other's keys."""
    recs = background()
    backup = user("backup-svc", BACKUP_KEY)
    for d in range(DAYS):
        night = T0 + timedelta(days=d, hours=1)
        recs.append(list_buckets(backup, night, BACKUP_IP, BACKUP_UA))
        recs += mass_read(backup, night + timedelta(minutes=1), BACKUP_IP, BACKUP_UA,
                          {"tenant-mail-archive": 20}, 9_000_000)
    t = THEFT
    new_key = "AKIAWEBADMINTHEFT001"
    recs += [
        get_caller_identity(ci(), t, ATK1, "TruffleHog/3.63.2 (+https://trufflesecurity.com)"),
        create_access_key(ci(), t + timedelta(minutes=30), ATK1, ATK_CLI, "web-admin", new_key),
    ]
    wa = user("web-admin", new_key)
    plan_a = {"tenant-docs": 30}
    recs += mass_read(wa, t + timedelta(hours=2), ATK1, ATK_CLI, plan_a, 1_000_000)
    t_b = T0 + timedelta(days=4, hours=15)
    recs.append(list_buckets(backup, t_b, ATK3, ATK_BOTO))
    recs += [list_objects(backup, t_b + timedelta(seconds=i), ATK3, ATK_BOTO, b)
             for i, b in enumerate(("tenant-db-dumps", "tenant-mail-archive"))]
    plan_b = {"tenant-db-dumps": 240, "tenant-mail-archive": 60}
    recs += mass_read(backup, t_b + timedelta(minutes=2), ATK3, ATK_BOTO, plan_b, 3_000_000)
    res = run_hunt(cli, tmp_path, recs)
    a = res.incident_with(CI_KEY)
    b = res.incident_with(BACKUP_KEY)
    assert a["id"] != b["id"], res.summary()
    assert set(a["access_keys"]) == {CI_KEY, new_key}, res.summary()
    assert set(b["access_keys"]) == {BACKUP_KEY}, res.summary()
    assert a["severity"] in SEVERE and b["severity"] in SEVERE, res.summary()
    assert ATK3 not in a["source_ips"] and ATK1 not in b["source_ips"], res.summary()
    assert ATK3 in b["source_ips"] and BACKUP_IP not in b["source_ips"], res.summary()
    got = {x["name"]: (x["objects_read"], x["bytes_out"])
           for x in b["resources"]["s3_buckets"]}
    assert got == plan_bytes(plan_b, 3_000_000), res.summary()


# --------------------------------------------------------------------------- rotations


def test_rotation_for_another_user_from_a_travel_network_is_not_an_incident(cli, tmp_path):
    """alice-admin, from a hotel she never worked from, issues ci-deploy a new key; the
    pipeline switches to it on its next run from its runners, and she deletes the old key
    from the hotel two hours later."""
    hotel = "81.2.69.160"
    new_ci = "AKIACIDEPLOYROTATED9"
    switch = T0 + timedelta(days=3, hours=12)
    recs = ci_key_switch(new_ci, switch)
    admin = user("alice-admin", ADMIN_KEY)
    t = switch - timedelta(minutes=40)
    recs += [
        api("ListUsers", "iam.amazonaws.com", admin, t, hotel, ADMIN_UA, region="us-east-1"),
        api("ListAccessKeys", "iam.amazonaws.com", admin, t + timedelta(minutes=1), hotel,
            ADMIN_UA, region="us-east-1", request={"userName": CI_USER}),
        create_access_key(admin, t + timedelta(minutes=2), hotel, ADMIN_UA, CI_USER, new_ci),
        api("DeleteAccessKey", "iam.amazonaws.com", admin, switch + timedelta(hours=2), hotel,
            ADMIN_UA, region="us-east-1",
            request={"userName": CI_USER, "accessKeyId": CI_KEY}),
    ]
    res = run_hunt(cli, tmp_path, recs)
    assert_no_severe_incident(res)
    assert not [i for i in res.incidents if new_ci in i["access_keys"]], res.summary()


# --------------------------------------------------------------------------- thin history


def test_attack_starting_hours_after_the_logs_do(cli, tmp_path):
    """The trail begins three hours before the theft (the organisation switched CloudTrail on
    that morning): the pipeline has deployed twice when an attacker with its exact user agent
    lists users and creates a key for web-admin, which then reads the tenants' dumps. Found
    on the mint, and the incident says how little history it rests on."""
    start = THEFT - timedelta(hours=3)
    recs = [r for r in background() if r["eventTime"] >= ts(start)]
    t = THEFT
    new_key = "AKIAWEBADMINEARLY001"
    recs += [
        get_caller_identity(ci(), t, ATK1, CI_UA),
        api("ListUsers", "iam.amazonaws.com", ci(), t + timedelta(minutes=2), ATK1, CI_UA,
            region="us-east-1"),
        create_access_key(ci(), t + timedelta(minutes=4), ATK1, CI_UA, "web-admin", new_key),
    ]
    wa = user("web-admin", new_key)
    plan = {"tenant-db-dumps": 50}
    recs += mass_read(wa, t + timedelta(hours=1), ATK2, ATK_CLI, plan, 4_000_000)
    res = run_hunt(cli, tmp_path, recs)
    inc = assert_attack_incident(res, keys={CI_KEY, new_key}, attacker_ips={ATK1, ATK2},
                                 stages={"persistence", "collection"},
                                 buckets=plan_bytes(plan, 4_000_000))
    assert inc["history_days"] is not None and inc["history_days"] < 1, inc["history_days"]
    assert any("--since" in w for w in inc["warnings"]), inc["warnings"]


# --------------------------------------------------------------------------- instance creds


def test_instance_credentials_used_off_the_instance(cli, tmp_path):
    """The web application's instance session is taken (SSRF to the metadata service) and
    used from the attacker's host with another client, while the application goes on using
    it: listing buckets and downloading from one that the application never reads."""
    recs = background()
    day = 3
    stolen = f"ASIAWEBAPP0000000{day:03d}"
    sess = ct.assumed_role_identity("web-app", f"i-0abc{day:04d}", stolen)
    t = T0 + timedelta(days=day, hours=10, minutes=12)
    recs.append(get_caller_identity(sess, t, ATK1, ATK_CLI))
    recs.append(list_buckets(sess, t + timedelta(minutes=1), ATK1, ATK_CLI))
    recs.append(list_objects(sess, t + timedelta(minutes=2), ATK1, ATK_CLI, "tenant-docs"))
    plan = {"tenant-docs": 25}
    recs += mass_read(sess, t + timedelta(minutes=3), ATK1, ATK_CLI, plan, 300_000)
    res = run_hunt(cli, tmp_path, recs)
    inc = res.incident_with(stolen)
    assert inc["severity"] in SEVERE, res.summary()
    assert inc["access_keys"] == [stolen], res.summary()
    assert inc["source_ips"] == [ATK1], res.summary()
    got = {b["name"]: (b["objects_read"], b["bytes_out"])
           for b in inc["resources"]["s3_buckets"]}
    assert got == plan_bytes(plan, 300_000), res.summary()
    assert not [e for e in _events_of(res, inc, "attacker") if e["source_ip"] == APP_IP]
    assert any(a["action"] == "revoke-role-sessions" for a in inc["recommended_actions"])


# --------------------------------------------------------------------------- root console


def _root_identity(key: str | None = None) -> dict[str, Any]:
    ident: dict[str, Any] = {"type": "Root", "principalId": ACCT,
                             "arn": f"arn:aws:iam::{ACCT}:root", "accountId": ACCT}
    if key:
        ident["accessKeyId"] = key
    return ident


def _root_login(t, ip: str, mfa: str) -> dict[str, Any]:
    rec = ct.record("ConsoleLogin", source="signin.amazonaws.com", identity=_root_identity(),
                    time=ts(t), ip=ip, ua=BROWSER, region="us-east-1",
                    response={"ConsoleLogin": "Success"},
                    additionalEventData={"MFAUsed": mfa, "MobileVersion": "No"})
    rec["eventType"] = "AwsConsoleSignIn"
    rec.pop("requestID", None)
    return rec


def test_root_console_sign_in_from_a_new_place(cli, tmp_path):
    """Someone signs in as root, without MFA, from an address nobody in the organisation
    ever used, creates an administrator user with a key and reads data through the console.
    A root sign-in from the office the day before (a billing change) is not part of it."""
    recs = background()
    office = _root_login(T0 + timedelta(days=2, hours=10), ADMIN_IP, "Yes")
    recs.append(office)
    recs.append(api("GetBillingPreferences", "billingconsole.amazonaws.com",
                    _root_identity("ASIAROOTOFFICE000001"),
                    T0 + timedelta(days=2, hours=10, minutes=3), ADMIN_IP, BROWSER,
                    read_only=True))
    t = THEFT
    console_key = "ASIAROOTCONSOLE00001"
    admin_key = "AKIABACKDOORADMIN001"
    root = _root_identity(console_key)
    recs.append(_root_login(t, ATK1, "No"))
    recs += [
        api("CreateUser", "iam.amazonaws.com", root, t + timedelta(minutes=3), ATK1, BROWSER,
            region="us-east-1", request={"userName": "support-svc"}),
        api("AttachUserPolicy", "iam.amazonaws.com", root, t + timedelta(minutes=4), ATK1,
            BROWSER, region="us-east-1",
            request={"userName": "support-svc",
                     "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        create_access_key(root, t + timedelta(minutes=5), ATK1, BROWSER, "support-svc",
                          admin_key),
    ]
    svc = user("support-svc", admin_key)
    plan = {"tenant-mail-archive": 40}
    recs += mass_read(svc, t + timedelta(hours=1), ATK2, ATK_BOTO, plan, 2_500_000)
    res = run_hunt(cli, tmp_path, recs)
    inc = res.incident_with(admin_key)
    assert inc["severity"] in SEVERE, res.summary()
    assert inc["root_principal"] == f"arn:aws:iam::{ACCT}:root", res.summary()
    assert {console_key, admin_key} <= set(inc["access_keys"]), res.summary()
    assert "ASIAROOTOFFICE000001" not in inc["access_keys"], res.summary()
    assert {ATK1, ATK2} <= set(inc["source_ips"]) and ADMIN_IP not in inc["source_ips"]
    ids = {e["event_id"] for e in _events_of(res, inc, "attacker")}
    assert office["eventID"] not in ids


# --------------------------------------------------------------------------- lab


def test_administrators_logging_work_beside_a_stolen_key(cli, tmp_path):
    """In a small account, the administrator creates a trail, switches S3 data events on and
    copies the log bucket (their own work, from their desk); meanwhile a developer's stolen
    key gives its own user an inline allow-all policy and a second key, and reads data. Only
    the stolen key is an incident; widening logging is not blinding it."""
    admin = user("alice-admin", ADMIN_KEY)
    dev_key = "AKIADEVBOB0000000001"
    dev = user("dev-bob", dev_key)
    home, dev_ua = "198.51.100.61", "Boto3/1.34.40 md/Botocore#1.34.40 Python/3.12.1 Linux"
    recs = admin_routine()
    for d in range(DAYS):
        for h in (9, 13, 16):
            recs.append(api("DescribeInstances", "ec2.amazonaws.com", dev,
                            T0 + timedelta(days=d, hours=h), home, dev_ua))
    t = T0 + timedelta(days=3, hours=10)
    trail = f"arn:aws:cloudtrail:eu-west-1:{ACCT}:trail/org-trail"
    recs += [
        api("CreateTrail", "cloudtrail.amazonaws.com", admin, t, ADMIN_IP, ADMIN_UA,
            request={"name": "org-trail", "s3BucketName": "audit-logs"}),
        api("PutEventSelectors", "cloudtrail.amazonaws.com", admin, t + timedelta(minutes=2),
            ADMIN_IP, ADMIN_UA, request={"trailName": trail, "eventSelectors": [
                {"readWriteType": "All", "includeManagementEvents": True,
                 "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}],
                 "excludeManagementEventSources": []}]}),
        api("StartLogging", "cloudtrail.amazonaws.com", admin, t + timedelta(minutes=3),
            ADMIN_IP, ADMIN_UA, request={"name": trail}),
    ]
    recs += mass_read(admin, t + timedelta(minutes=30), ADMIN_IP, ADMIN_UA,
                      {"audit-logs": 300}, 50_000)
    ta = T0 + timedelta(days=3, hours=20)
    second = "AKIADEVBOBSECOND0001"
    allow_all = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",' \
                '"Resource":"*"}]}'
    recs += [
        get_caller_identity(dev, ta, ATK1, ATK_CLI),
        api("PutUserPolicy", "iam.amazonaws.com", dev, ta + timedelta(minutes=2), ATK1,
            ATK_CLI, region="us-east-1",
            request={"userName": "dev-bob", "policyName": "ops", "policyDocument": allow_all}),
        create_access_key(dev, ta + timedelta(minutes=3), ATK1, ATK_CLI, None, second),
    ]
    plan = {"tenant-db-dumps": 30}
    recs += mass_read(user("dev-bob", second), ta + timedelta(hours=1), ATK2, ATK_CLI, plan,
                      1_000_000)
    res = run_hunt(cli, tmp_path, recs)
    inc = res.incident_with(dev_key)
    assert inc["severity"] in SEVERE, res.summary()
    assert set(inc["access_keys"]) == {dev_key, second}, res.summary()
    assert {"privilege-escalation", "persistence", "collection"} <= set(inc["stages"])
    admin_incs = [i for i in res.incidents if ADMIN_KEY in i["access_keys"]]
    assert not admin_incs, res.summary()
    assert "defense_evasion_cloudtrail_stopped_or_deleted" not in res.fired(), res.summary()


# --------------------------------------------------------------------------- Stratus


@pytest.mark.slow
def test_each_stratus_detonation_is_at_most_one_incident(tmp_path, fixtures_dir):
    """Stratus Red Team's recorded detonations, each hunted alone: never two incidents for
    one technique, and every credential a technique mints or takes and then uses belongs to
    its one incident."""
    from trailhound.correlate import correlate
    from trailhound.rules import detect, load_rules
    from trailhound.store.engine import Store
    from trailhound.store.ingest import ingest

    rules = load_rules([])  # compiled once: the 35 hunts differ only in their logs

    def incidents_of(src: Path, store_dir: Path) -> list:
        st = Store(store_dir, create=True)
        try:
            ingest([str(src)], st)
            conn = st.connect()
            try:
                return correlate(conn, detect(conn, rules).alerts).incidents
            finally:
                conn.close()
        finally:
            st.close()

    files = sorted((fixtures_dir / "stratus-detonations").glob("aws.*.json"))
    assert len(files) == 35
    for f in files:
        records = json.loads(f.read_text())
        callers = {(r.get("userIdentity") or {}).get("accessKeyId") for r in records}
        minted = {
            ((r.get("responseElements") or {}).get("accessKey") or {}).get("accessKeyId")
            or ((r.get("responseElements") or {}).get("credentials") or {}).get("accessKeyId")
            for r in records if not r.get("errorCode")} - {None}
        used_minted = minted & callers
        src = tmp_path / f.stem / "in"
        src.mkdir(parents=True)
        (src / f.name).write_text(f.read_text())
        incidents = incidents_of(src, tmp_path / f.stem / "store")
        assert len(incidents) <= 1, (f.stem, [i.id for i in incidents])
        if used_minted and incidents:
            assert used_minted <= set(incidents[0].access_keys), (f.stem, used_minted)


# --------------------------------------------------------------------------- a laptop

DEV_KEY = "AKIADEVCAROL00000001"
DEV_UA = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/arm64 prompt/off"
DEV_HOME = "198.51.100.140"


def _developer() -> list[dict[str, Any]]:
    """A developer's own key on her MacBook, from home and the office, every day."""
    dev = user("dev-carol", DEV_KEY)
    out = []
    for d in range(DAYS):
        for h, ip in ((9, DEV_HOME), (14, ADMIN_IP), (18, DEV_HOME)):
            t = T0 + timedelta(days=d, hours=h)
            out.append(api("DescribeInstances", "ec2.amazonaws.com", dev, t, ip, DEV_UA))
            out.append(list_buckets(dev, t + timedelta(minutes=1), ip, DEV_UA))
    return out


def _onboard(ident: dict[str, Any], t, ip: str, ua: str, name: str, key: str
             ) -> list[dict[str, Any]]:
    return [
        api("CreateUser", "iam.amazonaws.com", ident, t, ip, ua, region="us-east-1",
            request={"userName": name}),
        api("AttachUserPolicy", "iam.amazonaws.com", ident, t + timedelta(seconds=20), ip, ua,
            region="us-east-1", request={"userName": name,
                                         "policyArn": f"arn:aws:iam::{ACCT}:policy/{name}"}),
        create_access_key(ident, t + timedelta(seconds=40), ip, ua, name, key),
    ]


def test_developer_on_her_own_laptop_at_a_conference_is_not_an_incident(cli, tmp_path):
    """At a conference (a network nobody in the organisation used), from the laptop she has
    used every day, the developer sets up a service user with a key for a demo."""
    conference = "81.2.69.201"
    dev = user("dev-carol", DEV_KEY)
    recs = background() + _developer()
    t = T0 + timedelta(days=3, hours=11)
    recs.append(api("DescribeInstances", "ec2.amazonaws.com", dev, t, conference, DEV_UA))
    recs += _onboard(dev, t + timedelta(minutes=5), conference, DEV_UA, "demo-uploader",
                     "AKIADEMOUPLOADER0001")
    res = run_hunt(cli, tmp_path, recs)
    assert_no_severe_incident(res)


def test_the_same_setup_with_her_stolen_key_is_an_incident(cli, tmp_path):
    """The same calls with her key, from a server with another installation of the CLI: the
    key was copied off her laptop."""
    recs = background() + _developer()
    dev = user("dev-carol", DEV_KEY)
    t = T0 + timedelta(days=3, hours=11)
    stolen_ua = "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22"
    backdoor = "AKIADEMOUPLOADER0002"
    recs += _onboard(dev, t, ATK1, stolen_ua, "demo-uploader", backdoor)
    plan = {"tenant-docs": 30}
    recs += mass_read(user("demo-uploader", backdoor), t + timedelta(hours=1), ATK2, ATK_BOTO,
                      plan, 800_000)
    res = run_hunt(cli, tmp_path, recs)
    inc = res.incident_with(DEV_KEY)
    assert inc["severity"] in SEVERE, res.summary()
    assert set(inc["access_keys"]) == {DEV_KEY, backdoor}, res.summary()
    assert DEV_HOME not in inc["source_ips"] and ADMIN_IP not in inc["source_ips"]
