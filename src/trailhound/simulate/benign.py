"""Benign machine traffic, one hour at a time: web servers, nightly backups, AWS services and
cron jobs. (People, CI/CD and the security scanner live in their own modules.)

Each generator gets the hour's start and a generator seeded for (seed, hour, generator), so an
hour is produced identically by whichever process runs it. Volumes are shares of
`events_per_day`, shaped by hour of day and weekday, with seeded noise.
"""

from __future__ import annotations

import random

from trailhound.simulate import records as R
from trailhound.simulate.ctx import (
    INSTANCE_CRED_HOURS,
    WEB_PROFILE,
    WEB_SUM,
    Ctx,
    Event,
    count,
    instance_session,
    ri,
    rr,
)
from trailhound.simulate.org import key_id, stable_rng, unique_id

SHARE_WEB = 0.44
SHARE_BACKUP = 0.15
SHARE_SERVICE = 0.09
SHARE_CRON = 0.05


def weekday(ctx: Ctx, hour_t: int) -> int:
    return ((hour_t - ctx.org.t0) // 86400 + ctx.org.start.weekday()) % 7


def web(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event]) -> None:
    """Web servers serving tenant sites: GetObject mostly, some HeadObject, listings and
    uploads from the CMS, all through the instance-profile session and the VPC endpoint."""
    org = ctx.org
    h = (hour_t // 3600) % 24
    wk = weekday(ctx, hour_t)
    exp = (SHARE_WEB * org.mix["web"] * org.events_per_day * WEB_PROFILE[h] / WEB_SUM
           * (0.8 if wk >= 5 else 1.05))
    role = org.web_role
    assert role is not None
    idents = ctx.cache.setdefault("web-idents", {})
    rand = rng.random
    inst = org.web_instances
    n_inst = len(inst)
    ua, vpce = org.web_ua, org.vpce
    s3 = R.s3_data
    append = out.append
    for _ in range(count(exp, rng)):
        t = hour_t + int(rand() * 3600)
        iid, ip = inst[int(rand() * n_inst)]
        key, created, _ = instance_session(org, iid, t)
        ident = idents.get(key)
        if ident is None:
            ident = idents[key] = R.assumed_role(role.account, role.name, role.role_id, iid,
                                                 key, created, ec2=True)
        b = ctx.popular_bucket(rng)
        x = rand()
        if x < 0.86:
            k, size = ctx.popular_object(rng, b)
            if rand() < 0.004:
                append((t, s3(t, rng, ident, "GetObject", b.name, k + ".bak", b.region,
                              b.account, ip, ua, vpce=vpce,
                              error=("NoSuchKey", "The specified key does not exist."))))
                continue
            append((t, s3(t, rng, ident, "GetObject", b.name, k, b.region, b.account, ip, ua,
                          bytes_out=size, vpce=vpce)))
        elif x < 0.92:
            k, _ = ctx.popular_object(rng, b)
            append((t, s3(t, rng, ident, "HeadObject", b.name, k, b.region, b.account, ip, ua,
                          vpce=vpce)))
        elif x < 0.96:
            k, _ = ctx.popular_object(rng, b)
            prefix = k.split("/", 1)[0] + "/"
            append((t, s3(t, rng, ident, "ListObjectsV2", b.name, None, b.region, b.account,
                          ip, ua, vpce=vpce, list_prefix=prefix)))
        else:
            k, size = ctx.popular_object(rng, b)
            append((t, s3(t, rng, ident, "PutObject", b.name, k, b.region, b.account, ip, ua,
                          bytes_in=size, vpce=vpce)))


def backup(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event]) -> None:
    """Nightly backups: the backup role (an instance profile in the backups account) lists
    every tenant bucket, reads changed objects and writes them to the backups account's
    buckets. Large reads every night, three times as many on Sundays (full backup)."""
    org = ctx.org
    h = (hour_t // 3600) % 24
    b0 = org.backup_hour
    if not b0 <= h < b0 + 4:
        return
    role = org.backup_role
    assert role is not None
    wk = weekday(ctx, hour_t)
    per_hour = SHARE_BACKUP * org.mix["backup"] * org.events_per_day / 4 * (2.2 if wk == 6 else 0.8)
    iid = org.backup_instance
    ip_list = org.backup_ips
    ua = org.backup_ua
    if h == b0:
        # The sync starts by listing every bucket it copies.
        for b in org.tenant_buckets:
            t = hour_t + rr(rng, 600)
            key, created, _ = instance_session(org, iid, t)
            ident = R.assumed_role(role.account, role.name, role.role_id, iid, key, created,
                                   ec2=True)
            for _ in range(1 + b.n_objects // 1000):
                out.append((t, R.s3_data(t, rng, ident, "ListObjectsV2", b.name, None, b.region,
                                         b.account, ip_list[0], ua)))
                t += ri(rng, 1, 3)
    n = count(per_hour / 2, rng)
    for _ in range(n):
        t = hour_t + rr(rng, 3600)
        key, created, _ = instance_session(org, iid, t)
        ident = R.assumed_role(role.account, role.name, role.role_id, iid, key, created, ec2=True)
        b = org.tenant_buckets[rr(rng, len(org.tenant_buckets))]
        k, size = ctx.random_object(rng, b)
        ip = ip_list[rr(rng, len(ip_list))]
        out.append((t, R.s3_data(t, rng, ident, "GetObject", b.name, k, b.region, b.account,
                                 ip, ua, bytes_out=size)))
        bb = org.backup_buckets[b.tenant or ""]
        t2 = t + ri(rng, 0, 4)
        out.append((t2, R.s3_data(t2, rng, ident, "PutObject", bb.name,
                                  f"{b.name}/{k}", bb.region, bb.account, ip, ua,
                                  bytes_in=size)))


_CONFIG_CALLS = (
    ("ec2.amazonaws.com", "DescribeInstances"), ("ec2.amazonaws.com", "DescribeSecurityGroups"),
    ("ec2.amazonaws.com", "DescribeVolumes"), ("ec2.amazonaws.com", "DescribeNetworkInterfaces"),
    ("s3.amazonaws.com", "GetBucketPolicy"), ("s3.amazonaws.com", "GetBucketEncryption"),
    ("s3.amazonaws.com", "GetBucketVersioning"), ("iam.amazonaws.com", "GetRole"),
    ("iam.amazonaws.com", "ListAttachedRolePolicies"), ("rds.amazonaws.com", "DescribeDBInstances"),
    ("lambda.amazonaws.com", "ListFunctions20150331"), ("kms.amazonaws.com", "DescribeKey"),
)
_SERVICE_ROLES = ("AWSServiceRoleForConfig", "AWSServiceRoleForAccessAnalyzer",
                  "AWSServiceRoleForTrustedAdvisor")


def services(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event]) -> None:
    """AWS services acting on the platform's behalf: EC2 issuing instance-profile credentials
    (`AssumeRole` by ec2.amazonaws.com), AWS Config and Access Analyzer describing resources
    through their service-linked roles, CloudTrail checking its bucket (`GetBucketAcl`)."""
    org = ctx.org
    prod = org.accounts["hosting-prod"]
    # Instance-profile credential refreshes: one AssumeRole per instance per refresh.
    for iid, _ip in org.web_instances:
        _credential_refresh(ctx, hour_t, rng, out, iid, org.web_role, prod)
    _credential_refresh(ctx, hour_t, rng, out, org.backup_instance, org.backup_role,
                        org.accounts["backups"])
    # Service-linked roles describing resources.
    exp = SHARE_SERVICE * org.mix["services"] * org.events_per_day / 24
    accts = list(org.accounts.values())
    idents: dict[tuple[str, str, int], R.Record] = {}
    for _ in range(count(exp, rng)):
        t = hour_t + rr(rng, 3600)
        acct = accts[0 if rng.random() < 0.1 else 1 + rr(rng, len(accts) - 1)]
        role_name = _SERVICE_ROLES[0 if rng.random() < 0.7 else 1 + rr(rng, 2)]
        svc = {"AWSServiceRoleForConfig": "config.amazonaws.com",
               "AWSServiceRoleForAccessAnalyzer": "access-analyzer.amazonaws.com",
               "AWSServiceRoleForTrustedAdvisor": "trustedadvisor.amazonaws.com"}[role_name]
        block = (t - org.t0) // 3600
        sess = {"config.amazonaws.com": "AWSConfig-Describe",
                "access-analyzer.amazonaws.com": "access-analyzer",
                "trustedadvisor.amazonaws.com": "TrustedAdvisor"}[svc]
        ck = (acct, role_name, block)
        ident = idents.get(ck)
        if ident is None:
            ident = idents[ck] = R.assumed_role(
                acct, role_name, _role_id(org.seed, acct, role_name), sess,
                key_id("ASIA", org.seed, acct, role_name, block), R.iso(org.t0 + block * 3600),
                path=f"/aws-service-role/{svc}/", invoked_by=svc)
        src, name = _CONFIG_CALLS[rr(rng, len(_CONFIG_CALLS))]
        region = "us-east-1" if src == "iam.amazonaws.com" else org.home_region
        req = _service_req(rng, name, org)
        out.append((t, R.service_event(t, rng, ident, src, name, region, acct, svc,
                                       read_only=True, req=req)))
    # CloudTrail checking it may still write to its bucket.
    mgmt = org.accounts["management"]
    for _ in range(ri(rng, 1, 3)):
        t = hour_t + rr(rng, 3600)
        out.append((t, R.service_event(
            t, rng, R.aws_service("cloudtrail.amazonaws.com"), "s3.amazonaws.com",
            "GetBucketAcl", org.home_region, mgmt, "cloudtrail.amazonaws.com", read_only=True,
            req={"bucketName": org.trail_bucket, "Host": f"{org.trail_bucket}.s3."
                 f"{org.home_region}.amazonaws.com", "acl": ""},
            resources=[{"accountId": mgmt, "type": "AWS::S3::Bucket",
                        "ARN": f"arn:aws:s3:::{org.trail_bucket}"}])))


_ROLE_IDS: dict[tuple[int, str, str], str] = {}


def _role_id(seed: int, acct: str, role: str) -> str:
    k = (seed, acct, role)
    got = _ROLE_IDS.get(k)
    if got is None:
        got = _ROLE_IDS[k] = unique_id("AROA", seed, acct, role)
    return got


def _service_req(rng: random.Random, name: str, org) -> R.Record | None:  # type: ignore[no-untyped-def]
    if name.startswith("GetBucket"):
        b = org.tenant_buckets[rr(rng, len(org.tenant_buckets))]
        return {"bucketName": b.name, "Host": f"{b.name}.s3.{b.region}.amazonaws.com"}
    if name in ("GetRole", "ListAttachedRolePolicies"):
        return {"roleName": org.web_role.name}
    if name == "DescribeInstances":
        return {"instancesSet": {}, "filterSet": {}}
    return None


def _credential_refresh(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event], iid: str,
                        role, account: str) -> None:  # type: ignore[no-untyped-def]
    """`AssumeRole` by ec2.amazonaws.com (AWSService identity) when an instance profile's
    credentials are issued; its response names the ASIA key the instance then uses."""
    org = ctx.org
    key, _created, start = instance_session(org, iid, hour_t + 3599)
    if not hour_t <= start < hour_t + 3600:
        return
    rng2 = stable_rng("refresh", org.seed, iid, start)
    arn = f"arn:aws:sts::{account}:assumed-role/{role.name}/{iid}"
    out.append((start, R.service_event(
        start, rng2, R.aws_service("ec2.amazonaws.com"), "sts.amazonaws.com", "AssumeRole",
        org.home_region, account, "ec2.amazonaws.com", read_only=True,
        req={"roleArn": role.arn, "roleSessionName": iid},
        resp=R.assume_role_elements(start, rng2, arn, role.role_id, iid, key,
                                    INSTANCE_CRED_HOURS * 3600 + 1800),
        resources=[{"accountId": account, "type": "AWS::IAM::Role", "ARN": role.arn}])))


def cron(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event]) -> None:
    """Cron jobs with IAM-user keys: the same few calls, on a fixed period, from one or two
    hosts. Each user's job shape is derived from its name."""
    org = ctx.org
    per_user = SHARE_CRON * org.mix["cron"] * org.events_per_day / 24 / max(1, len(org.cron_users))
    for i, u in enumerate(org.cron_users):
        period = (5, 10, 15, 30, 60)[(org.seed + i) % 5] * 60
        runs = max(1, 3600 // period)
        per_run = max(1.0, per_user / runs)
        phase = (org.seed * 37 + i * 113) % period
        ident = None
        for r in range(runs):
            t = hour_t + phase + r * period + ri(rng, 0, 20)
            if t >= hour_t + 3600:
                break
            key = u.key_at(t)
            if ident is None or ident["accessKeyId"] != key:
                ident = R.iam_user(u.account, u.name, u.principal_id, key)
            ip = u.ips[rr(rng, len(u.ips))]
            ua = u.user_agents[0]
            kind = (i + org.seed) % 3
            for _ in range(count(per_run, rng)):
                t += ri(rng, 0, 3)
                if kind == 0:
                    b = org.tenant_buckets[(i * 7 + r) % len(org.tenant_buckets)]
                    k, size = ctx.popular_object(rng, b)
                    if rng.random() < 0.2:
                        out.append((t, R.s3_data(t, rng, ident, "ListObjectsV2", b.name, None,
                                                 b.region, b.account, ip, ua)))
                    else:
                        out.append((t, R.s3_data(t, rng, ident, "GetObject", b.name, k,
                                                 b.region, b.account, ip, ua, bytes_out=size)))
                elif kind == 1:
                    b = org.tenant_buckets[rr(rng, len(org.tenant_buckets))]
                    k, size = ctx.popular_object(rng, b)
                    out.append((t, R.s3_data(t, rng, ident, "PutObject", b.name, k, b.region,
                                             b.account, ip, ua, bytes_in=size)))
                else:
                    name = ("ListHostedZones", "ListResourceRecordSets", "GetChange",
                            "ChangeResourceRecordSets")[rr(rng, 4)]
                    ro = name != "ChangeResourceRecordSets"
                    req = None if name == "ListHostedZones" else {
                        "hostedZoneId": f"Z0{org.seed % 97:02d}{i}ABCDEF{i}"}
                    out.append((t, R.management(t, rng, ident, "route53.amazonaws.com", name,
                                                "us-east-1", u.account, ip, ua, read_only=ro,
                                                req=req)))
            if rng.random() < 0.05:
                out.append((t, R.management(t, rng, ident, "sts.amazonaws.com",
                                            "GetCallerIdentity", org.home_region, u.account,
                                            ip, ua, read_only=True)))
