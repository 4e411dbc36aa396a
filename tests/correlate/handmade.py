"""Hand-made CloudTrail corpora for `hunt`, independent of `trailhound simulate`.

Record builders in the shapes AWS documents (on top of tests/cloudtrail.py), the benign
background every variant shares (a CI pipeline deploying from its runners, an administrator
at the office, a web application's instance role), and what a responder checks in
`incidents.json`. Used by test_variants.py (attacks on the CI key and look-alikes) and
test_shapes.py (other shapes of theft).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cloudtrail as ct

ACCT = ct.ACCOUNT
OTHER = ct.OTHER_ACCOUNT
T0 = datetime(2026, 3, 16, 0, 0, 0)
THEFT = T0 + timedelta(days=3, hours=2, minutes=17)  # 2026-03-19 02:17Z
DAYS = 5

CI_USER = "ci-deploy"
CI_KEY = "AKIACIDEPLOY00000001"
CI_ARN = f"arn:aws:iam::{ACCT}:user/{CI_USER}"
CI_UA = ("aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 "
         "exec-env/GitHubActions prompt/off command/s3.cp")
RUNNERS = ("20.10.1.5", "20.10.1.9", "52.4.7.100")

ADMIN_KEY = "AKIAALICEADMIN000001"
ADMIN_IP = "192.0.2.50"
ADMIN_UA = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off"
APP_IP = "3.250.10.20"
APP_UA = ("Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#5.10.210 md/arch#x86_64 "
          "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.50")

# The attacker: a VPS and a VPN exit, none in the owner's networks.
ATK1 = "203.0.113.45"
ATK2 = "198.51.100.77"
ATK3 = "146.70.199.12"
ATK_CLI = ("aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 "
           "prompt/off")
ATK_BOTO = ("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 md/arch#x86_64 "
            "lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69")

TENANTS = {"tenant-mail-archive": "Client Mail", "tenant-db-dumps": "Client DB",
           "tenant-docs": "Client Docs", "web-assets": "Web"}

SEVERE = ("high", "critical")


# --------------------------------------------------------------------------- records


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def ci() -> dict[str, Any]:
    return ct.iam_user_identity(CI_USER, CI_KEY)


def user(name: str, key: str, account: str = ACCT) -> dict[str, Any]:
    ident = ct.iam_user_identity(name, key, account)
    ident["principalId"] = "AIDA" + name.upper().replace("-", "")[:12].ljust(12, "X") + "EX"
    return ident


def session_user(name: str, asia: str, when: datetime) -> dict[str, Any]:
    """Identity of calls made with GetSessionToken credentials: the IAM user, an ASIA key,
    and a session context without an issuer ("userIdentity element", AWS docs)."""
    ident = user(name, asia)
    ident["sessionContext"] = {"attributes": {"creationDate": ts(when),
                                              "mfaAuthenticated": "false"}}
    return ident


def federated(name: str, asia: str, issuer_user: str, when: datetime) -> dict[str, Any]:
    return {
        "type": "FederatedUser",
        "principalId": f"{ACCT}:{name}",
        "arn": f"arn:aws:sts::{ACCT}:federated-user/{name}",
        "accountId": ACCT,
        "accessKeyId": asia,
        "sessionContext": {
            "sessionIssuer": {"type": "IAMUser", "principalId": "AIDACIDEPLOYEXAMPLE",
                              "arn": f"arn:aws:iam::{ACCT}:user/{issuer_user}",
                              "accountId": ACCT, "userName": issuer_user},
            "webIdFederationData": {},
            "attributes": {"creationDate": ts(when), "mfaAuthenticated": "false"},
        },
    }


def api(name: str, source: str, ident: dict[str, Any], t: datetime, ip: str, ua: str,
        **kw: Any) -> dict[str, Any]:
    kw.setdefault("account", ident.get("accountId", ACCT))
    if name.startswith(("List", "Get", "Describe", "Head")):
        kw.setdefault("read_only", True)
    return ct.record(name, source=source, identity=ident, time=ts(t), ip=ip, ua=ua, **kw)


def s3_data(name: str, ident: dict[str, Any], t: datetime, ip: str, ua: str, bucket: str,
            key: str | None = None, *, owner: str = ACCT, account: str = ACCT,
            nbytes_out: int | None = None, request: dict[str, Any] | None = None,
            read_only: bool = True, **kw: Any) -> dict[str, Any]:
    """An S3 data event as CloudTrail writes it (eventCategory Data, resources with the
    bucket owner's account)."""
    req = {"bucketName": bucket, "Host": f"{bucket}.s3.eu-west-1.amazonaws.com"}
    if key is not None:
        req["key"] = key
    req.update(request or {})
    extra = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
             "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
             "x-amz-id-2": "EXAMPLEid2"}
    if nbytes_out is not None:
        extra["bytesTransferredOut"] = nbytes_out
    resources: list[dict[str, Any]] = []
    if key is not None:
        resources.append({"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
    resources.append({"accountId": owner, "type": "AWS::S3::Bucket",
                      "ARN": f"arn:aws:s3:::{bucket}"})
    rec = ct.record(name, source="s3.amazonaws.com", identity=ident, time=ts(t), ip=ip, ua=ua,
                    request=req, account=account, read_only=read_only,
                    additionalEventData=extra, resources=resources, **kw)
    rec["eventCategory"] = "Data"
    rec["managementEvent"] = False
    return rec


def get_object(ident: dict[str, Any], t: datetime, ip: str, ua: str, bucket: str, key: str,
               nbytes: int, **kw: Any) -> dict[str, Any]:
    return s3_data("GetObject", ident, t, ip, ua, bucket, key, nbytes_out=nbytes, **kw)


def list_buckets(ident: dict[str, Any], t: datetime, ip: str, ua: str,
                 account: str = ACCT) -> dict[str, Any]:
    return api("ListBuckets", "s3.amazonaws.com", ident, t, ip, ua, account=account,
               request={"Host": "s3.amazonaws.com"})


def list_objects(ident: dict[str, Any], t: datetime, ip: str, ua: str, bucket: str,
                 **kw: Any) -> dict[str, Any]:
    return s3_data("ListObjectsV2", ident, t, ip, ua, bucket,
                   request={"list-type": "2", "prefix": "", "encoding-type": "url"}, **kw)


def get_caller_identity(ident: dict[str, Any], t: datetime, ip: str, ua: str,
                        **kw: Any) -> dict[str, Any]:
    return api("GetCallerIdentity", "sts.amazonaws.com", ident, t, ip, ua, **kw)


def create_user(ident: dict[str, Any], t: datetime, ip: str, ua: str, name: str
                ) -> dict[str, Any]:
    return api("CreateUser", "iam.amazonaws.com", ident, t, ip, ua, region="us-east-1",
               request={"userName": name},
               response={"user": {"path": "/", "userName": name,
                                  "userId": "AIDA" + name.upper().ljust(12, "X")[:12] + "EX",
                                  "arn": f"arn:aws:iam::{ACCT}:user/{name}",
                                  "createDate": "Mar 19, 2026 2:10:00 AM"}})


def create_access_key(ident: dict[str, Any], t: datetime, ip: str, ua: str,
                      target: str | None, new_key: str, **kw: Any) -> dict[str, Any]:
    """CreateAccessKey; `target` None is a user creating a key for themself (CloudTrail then
    omits requestParameters.userName)."""
    owner = target or ident.get("userName")
    return api("CreateAccessKey", "iam.amazonaws.com", ident, t, ip, ua, region="us-east-1",
               request={"userName": target} if target else None,
               response={"accessKey": {"userName": owner, "accessKeyId": new_key,
                                       "status": "Active",
                                       "createDate": "Mar 19, 2026 2:12:00 AM"}}, **kw)


def attach_admin(ident: dict[str, Any], t: datetime, ip: str, ua: str, target: str
                 ) -> dict[str, Any]:
    return api("AttachUserPolicy", "iam.amazonaws.com", ident, t, ip, ua, region="us-east-1",
               request={"userName": target,
                        "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})


def sts_credentials(asia: str, t: datetime) -> dict[str, Any]:
    return {"accessKeyId": asia, "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
            "expiration": (t + timedelta(hours=12)).strftime("%b %d, %Y %I:%M:%S %p")}


# --------------------------------------------------------------------------- background


def ci_routine(days: int = DAYS, key: str = CI_KEY) -> list[dict[str, Any]]:
    """The pipeline deploys every two hours: validate credentials (configure-aws-credentials
    calls GetCallerIdentity), upload the build, roll the service."""
    out = []
    ident = ct.iam_user_identity(CI_USER, key)
    t = T0
    n = 0
    while t < T0 + timedelta(days=days):
        ip = RUNNERS[n % len(RUNNERS)]
        out.append(get_caller_identity(ident, t, ip, CI_UA))
        out.append(ct.record("PutObject", source="s3.amazonaws.com", identity=ident,
                             time=ts(t + timedelta(seconds=30)), ip=ip, ua=CI_UA,
                             request={"bucketName": "releases", "key": f"build/{n}.zip"}))
        out.append(api("UpdateService", "ecs.amazonaws.com", ident, t + timedelta(seconds=50),
                       ip, CI_UA, request={"cluster": "prod", "service": "web"}))
        t += timedelta(hours=2)
        n += 1
    return out


def ci_key_switch(new_key: str, switch: datetime) -> list[dict[str, Any]]:
    """The org's routine in which the pipeline moves from its key to `new_key` at `switch`
    (a rotation's background, whoever issues the new key and from wherever)."""
    recs = [r for r in ci_routine() if r["eventTime"] < ts(switch)]
    recs += [r for r in ci_routine(key=new_key) if r["eventTime"] >= ts(switch)]
    return recs + admin_routine() + app_routine()


def admin_routine(days: int = DAYS) -> list[dict[str, Any]]:
    """An administrator from the office, working hours."""
    ident = user("alice-admin", ADMIN_KEY)
    out = []
    for d in range(days):
        for h in (8, 11, 14, 17):
            t = T0 + timedelta(days=d, hours=h)
            out.append(api("ListUsers", "iam.amazonaws.com", ident, t, ADMIN_IP, ADMIN_UA,
                           region="us-east-1"))
            out.append(api("DescribeInstances", "ec2.amazonaws.com", ident,
                           t + timedelta(minutes=2), ADMIN_IP, ADMIN_UA))
    return out


def app_routine(days: int = DAYS) -> list[dict[str, Any]]:
    """The web application's instance role reads a few assets every three hours."""
    out = []
    for d in range(days):
        ident = ct.assumed_role_identity("web-app", f"i-0abc{d:04d}", f"ASIAWEBAPP0000000{d:03d}")
        for h in range(0, 24, 3):
            t = T0 + timedelta(days=d, hours=h, minutes=7)
            for i in range(2):
                out.append(get_object(ident, t + timedelta(seconds=i), APP_IP, APP_UA,
                                      "web-assets", f"img/{h}-{i}.png", 20_000))
    return out


def background() -> list[dict[str, Any]]:
    return ci_routine() + admin_routine() + app_routine()


# --------------------------------------------------------------------------- hunting


@dataclass
class Outcome:
    doc: dict[str, Any]
    alerts: list[dict[str, Any]]
    out: Path

    @property
    def incidents(self) -> list[dict[str, Any]]:
        return self.doc["incidents"]

    def fired(self) -> set[str]:
        return {a["rule_id"] for a in self.alerts}

    def summary(self) -> str:
        incs = [{k: i[k] for k in ("severity", "root_access_key", "access_keys", "source_ips",
                                   "stages")} for i in self.incidents]
        rules = sorted({(a["rule_id"], a["severity"], a["access_key_id"], a["source_ip"])
                        for a in self.alerts})
        return f"incidents={incs}\nalerts={rules}"

    def incident_with(self, key: str) -> dict[str, Any]:
        found = [i for i in self.incidents if key in i["access_keys"]]
        assert found, f"no incident holds {key}\n{self.summary()}"
        assert len(found) == 1, f"{key} is in {len(found)} incidents\n{self.summary()}"
        return found[0]

    def evidence(self, inc: dict[str, Any]) -> list[dict[str, Any]]:
        path = self.out / "evidence" / f"{inc['id']}.ndjson"
        return [json.loads(line) for line in path.read_text().splitlines()]


def run_hunt(cli, tmp_path: Path, records: list[dict[str, Any]]) -> Outcome:
    src = tmp_path / "logs"
    for account in sorted({r["recipientAccountId"] for r in records}):
        mine = sorted((r for r in records if r["recipientAccountId"] == account),
                      key=lambda r: r["eventTime"])
        ct.write_aws_layout(src, mine, account=account, per_file=250)
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps(TENANTS))
    out = tmp_path / "out"
    code, _, err = cli("hunt", str(src), "--out", str(out), "--tenants", str(tenants))
    assert code == 0, err
    doc = json.loads((out / "incidents.json").read_text())
    alerts = [json.loads(x) for x in (out / "alerts.ndjson").read_text().splitlines() if x]
    return Outcome(doc, alerts, out)


def assert_attack_incident(res: Outcome, *, keys: set[str], attacker_ips: set[str],
                           stages: set[str] = frozenset(), bytes_out: int | None = None,
                           buckets: dict[str, tuple[int, int]] | None = None
                           ) -> dict[str, Any]:
    """The responder's view: one high/critical incident rooted at the stolen key with every
    derived key, the attacker's IPs and not the owner's, the stages and the bytes."""
    inc = res.incident_with(CI_KEY)
    ctx = res.summary()
    assert inc["severity"] in SEVERE, ctx
    assert inc["root_access_key"] == CI_KEY, ctx
    assert set(inc["access_keys"]) == keys, ctx
    assert attacker_ips <= set(inc["source_ips"]), ctx
    assert not set(inc["source_ips"]) & {*RUNNERS, ADMIN_IP, APP_IP}, ctx
    assert stages <= set(inc["stages"]), ctx
    assert 0.0 <= inc["confidence"] <= 1.0
    assert inc["first_seen"] >= ts(THEFT), ctx  # not the owner's first use of the key
    if bytes_out is not None:
        assert sum(b["bytes_out"] for b in inc["resources"]["s3_buckets"]) == bytes_out, ctx
    if buckets is not None:
        got = {b["name"]: (b["objects_read"], b["bytes_out"])
               for b in inc["resources"]["s3_buckets"]}
        assert got == buckets, ctx
    # The owner's deployments, which go on during the attack, are not the attacker's.
    ev = res.evidence(inc)
    owner = [e for e in ev if e["source_ip"] in RUNNERS and e["attribution"] == "attacker"]
    assert not owner, owner[:3]
    keys_action = {a["target"] for a in inc["recommended_actions"]
                   if a["action"] == "deactivate-access-key"}
    assert CI_KEY in keys_action, inc["recommended_actions"]
    return inc


def assert_no_severe_incident(res: Outcome) -> None:
    severe = [i for i in res.incidents if i["severity"] in SEVERE]
    assert not severe, res.summary()


def mass_read(ident: dict[str, Any], start: datetime, ip: str, ua: str,
              plan: dict[str, int], nbytes: int, *, every: int = 4,
              account: str = ACCT) -> list[dict[str, Any]]:
    """`plan`: bucket -> objects read, one GetObject every `every` seconds."""
    out = []
    t = start
    for bucket, n in plan.items():
        for i in range(n):
            out.append(get_object(ident, t, ip, ua, bucket, f"export/{i:05d}.gz",
                                  nbytes + i, owner=account, account=account))
            t += timedelta(seconds=every)
    return out


def plan_bytes(plan: dict[str, int], nbytes: int) -> dict[str, tuple[int, int]]:
    return {b: (n, sum(nbytes + i for i in range(n))) for b, n in plan.items()}



def assume_role_pair(caller: dict[str, Any], t: datetime, ip: str, ua: str, role_arn: str,
                     session_name: str, asia: str, shared: str) -> list[dict[str, Any]]:
    """A cross-account AssumeRole as CloudTrail logs it: once in the caller's account (full
    identity) and once in the role's account (the caller as an AWSAccount), one
    sharedEventID."""
    mine = ct.assume_role(role_arn, session_name, asia, identity=caller, time=ts(t), ip=ip,
                          ua=ua, account=caller["accountId"], sharedEventID=shared)
    mine["requestParameters"]["durationSeconds"] = 3600
    theirs = json.loads(json.dumps(mine))
    theirs["eventID"] = ct.eid()
    theirs["recipientAccountId"] = role_arn.split(":")[4]
    theirs["userIdentity"] = {"type": "AWSAccount", "principalId": caller["principalId"],
                              "accountId": caller["accountId"]}
    return [mine, theirs]
