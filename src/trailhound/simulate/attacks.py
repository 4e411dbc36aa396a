"""Attack scenarios on the stolen CI/CD key (ATTACK-CHAIN.md), each event labelled with a stage.

- `full`: the reference chain. TruffleHog validates the key (`GetCallerIdentity` with its user
  agent), IAM enumeration (`ListUsers`, `GetUser`, `ListAccessKeys`, `ListAttachedUserPolicies`,
  ...), `CreateAccessKey` for *another* existing user, the new key used later from other
  infrastructure: a recon burst across regions and services with denials, `ListBuckets`,
  per-bucket `ListObjectsV2`, then mass `GetObject` over several days.
- `quiet`: the same goal, evasive: user agents copied from the CI pipeline and from the
  hijacked user, no TruffleHog, enumeration spread over a day, a few hundred objects a day from
  two addresses, and the created key deleted at the end.
- `cross-account`: the stolen key assumes a role in the backups account (`AssumeRole`, logged in
  both accounts with one `sharedEventID`), that session assumes a second role, and the second
  session reads the backup buckets.

Meanwhile the CI pipeline keeps using the stolen key from its runners (benign traffic).
Stage names are CONTRACT.md's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from trailhound.simulate import names
from trailhound.simulate import records as R
from trailhound.simulate.ctx import Ctx, Event
from trailhound.simulate.org import Bucket, Org, User, key_id, stable_rng

SCENARIOS = ("full", "quiet", "cross-account", "benign", "none")
ATTACK_SCENARIOS = ("full", "quiet", "cross-account")

TECHNIQUES = {
    "credential-validation": ["T1078.004"],
    "discovery": ["T1087.004", "T1580", "T1526"],
    "persistence": ["T1098.001"],
    "lateral-movement": ["T1550.001"],
    "privilege-escalation": ["T1078.004"],
    "collection": ["T1619"],
    "exfiltration": ["T1530", "T1537"],
    "defense-evasion": ["T1070"],
}


@dataclass
class Attack:
    """The attacker's events and what truth.json says about them."""

    events: list[Event] = field(default_factory=list)
    stage_of: dict[str, str] = field(default_factory=dict)
    techniques: set[str] = field(default_factory=set)
    root_access_key: str = ""
    access_keys: list[str] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)

    def add(self, stage: str, t: int, recs: R.Record | list[R.Record],
            techniques: list[str] | None = None) -> None:
        for r in recs if isinstance(recs, list) else [recs]:
            self.events.append((t, r))
            self.stage_of[r["eventID"]] = stage
        self.techniques.update(techniques or TECHNIQUES.get(stage, []))

    def key(self, k: str) -> None:
        if k not in self.access_keys:
            self.access_keys.append(k)

    def principal(self, arn: str) -> None:
        if arn not in self.principals:
            self.principals.append(arn)


def build(ctx: Ctx) -> Attack | None:
    org = ctx.org
    if org.scenario not in ATTACK_SCENARIOS:
        return None
    rng = stable_rng("attack", org.seed, org.scenario)
    a = Attack()
    ci = org.ci
    assert ci is not None
    a.root_access_key = ci.keys[0][1]
    a.key(a.root_access_key)
    a.principal(ci.arn)
    {"full": _full, "quiet": _quiet, "cross-account": _cross}[org.scenario](ctx, rng, a)
    # The schedules keep inside the corpus; this makes it a guarantee, not a hope.
    kept = [(t, r) for t, r in a.events if org.t0 <= t < org.end]
    if len(kept) != len(a.events):
        ids = {r["eventID"] for _, r in kept}
        a.events = kept
        a.stage_of = {i: s for i, s in a.stage_of.items() if i in ids}
    return a


def _theft_time(org: Org, rng: random.Random) -> int:
    """When the key is first used by the attacker: a day or two into a week-long corpus, early
    on the first day of a short one so that the whole chain fits."""
    if org.days >= 4:
        return org.t0 + rng.randint(1, 2) * 86400 + rng.randint(6 * 3600, 20 * 3600)
    if org.days >= 2:
        return org.t0 + rng.randint(6 * 3600, 18 * 3600)
    return org.t0 + rng.randint(3600, 5 * 3600)


class _Clock:
    """Gaps between stages, shrunk in proportion when less than the reference chain's five
    days remain after the theft, so short corpora still hold every stage."""

    def __init__(self, org: Org, rng: random.Random, theft: int) -> None:
        self.rng = rng
        self.f = min(1.0, (org.end - theft) / (5 * 86400))

    def gap(self, lo: int, hi: int) -> int:
        return max(1, int(self.rng.randint(lo, hi) * self.f))

    def pace(self, lo: int, hi: int) -> tuple[int, int]:
        return max(1, int(lo * self.f)), max(1, int(hi * self.f))


def _targets(ctx: Ctx, rng: random.Random, n: int, prefer: tuple[str, ...]) -> list[Bucket]:
    pool = [b for b in ctx.org.tenant_buckets if b.kind in prefer] or ctx.org.tenant_buckets
    others = [b for b in ctx.org.tenant_buckets if b not in pool]
    picked = rng.sample(pool, min(len(pool), n))
    if len(picked) < n and others:
        picked += rng.sample(others, min(len(others), n - len(picked)))
    return picked


def _iam_enum(org: Org, a: Attack, rng: random.Random, t: int, ident: R.Record, acct: str,
              ip: str, ua: str, gap: tuple[int, int]) -> int:
    users: list[User] = [u for u in (org.ci, *org.cron_users, *org.idle_users) if u]
    a.add("discovery", t, R.management(t, rng, ident, "iam.amazonaws.com", "ListUsers",
                                       "us-east-1", acct, ip, ua, read_only=True))
    for u in rng.sample(users, min(len(users), rng.randint(4, len(users)))):
        for name in ("GetUser", "ListAccessKeys", "ListAttachedUserPolicies", "ListUserPolicies",
                     "ListGroupsForUser"):
            if rng.random() < 0.25 and name != "ListAccessKeys":
                continue
            t += rng.randint(*gap)
            a.add("discovery", t, R.management(t, rng, ident, "iam.amazonaws.com", name,
                                               "us-east-1", acct, ip, ua, read_only=True,
                                               req={"userName": u.name}))
    for name in ("ListRoles", "ListPolicies", "GetAccountAuthorizationDetails"):
        t += rng.randint(*gap)
        err = None
        if name == "GetAccountAuthorizationDetails" and rng.random() < 0.5:
            err = ("AccessDenied", f"User: {ident['arn']} is not authorized to perform: "
                                   f"iam:{name} on resource: *")
        a.add("discovery", t, R.management(t, rng, ident, "iam.amazonaws.com", name, "us-east-1",
                                           acct, ip, ua, read_only=True, error=err))
    return t


def _create_key(org: Org, a: Attack, rng: random.Random, t: int, ident: R.Record, acct: str,
                ip: str, ua: str) -> tuple[int, User, str]:
    """`CreateAccessKey` with `userName` = an existing user other than the caller."""
    # Usually a dormant user (nobody notices its new key), sometimes a busy job's user.
    target = rng.choice(org.idle_users if rng.random() < 0.7 else org.cron_users)
    if rng.random() < 0.35:
        # First try hits a user that already has two keys.
        other = rng.choice([u for u in (*org.cron_users, *org.idle_users) if u is not target])
        a.add("persistence", t, R.management(
            t, rng, ident, "iam.amazonaws.com", "CreateAccessKey", "us-east-1", acct, ip, ua,
            read_only=False, req={"userName": other.name},
            error=("LimitExceededException", "Cannot exceed quota for AccessKeysPerUser: 2")))
        t += rng.randint(20, 200)
    new = key_id("AKIA", org.seed, "attacker", target.name)
    a.add("persistence", t, R.management(
        t, rng, ident, "iam.amazonaws.com", "CreateAccessKey", "us-east-1", acct, ip, ua,
        read_only=False, req={"userName": target.name},
        resp={"accessKey": {"accessKeyId": new, "status": "Active", "userName": target.name,
                            "createDate": R.create_date(t)}}))
    a.key(new)
    a.principal(target.arn)
    return t, target, new


_RECON = (
    ("ec2.amazonaws.com", "DescribeInstances", "Client.UnauthorizedOperation"),
    ("ec2.amazonaws.com", "DescribeRegions", None),
    ("ec2.amazonaws.com", "DescribeSnapshots", "Client.UnauthorizedOperation"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", "Client.UnauthorizedOperation"),
    ("rds.amazonaws.com", "DescribeDBInstances", "AccessDenied"),
    ("lambda.amazonaws.com", "ListFunctions20150331", "AccessDeniedException"),
    ("secretsmanager.amazonaws.com", "ListSecrets", "AccessDeniedException"),
    ("ssm.amazonaws.com", "DescribeParameters", "AccessDeniedException"),
    ("kms.amazonaws.com", "ListKeys", "AccessDeniedException"),
    ("cloudtrail.amazonaws.com", "DescribeTrails", "AccessDenied"),
    ("guardduty.amazonaws.com", "ListDetectors", "AccessDeniedException"),
    ("dynamodb.amazonaws.com", "ListTables", "AccessDeniedException"),
    ("ecs.amazonaws.com", "ListClusters", "AccessDeniedException"),
)


def _recon(org: Org, a: Attack, rng: random.Random, t: int, ident: R.Record, acct: str, ip: str,
           ua: str, n: int, deny: float, gap: tuple[int, int]) -> int:
    regions = rng.sample(list(org.all_regions), rng.randint(6, len(org.all_regions)))
    for _ in range(n):
        t += rng.randint(*gap)
        src, name, code = rng.choice(_RECON)
        region = rng.choice(regions)
        err = None
        if code and rng.random() < deny:
            err = (code, f"User: {ident['arn']} is not authorized to perform: "
                         f"{src.split('.')[0]}:{name}")
        a.add("discovery", t, R.management(t, rng, ident, src, name, region, acct, ip, ua,
                                           read_only=True, error=err))
    return t


def _list_buckets(ctx: Ctx, a: Attack, rng: random.Random, t: int, ident: R.Record, acct: str,
                  ip: str, ua: str, buckets: list[Bucket]) -> int:
    a.add("discovery", t, R.management(t, rng, ident, "s3.amazonaws.com", "ListBuckets",
                                       "us-east-1", acct, ip, ua, read_only=True,
                                       req={"Host": "s3.amazonaws.com"}),
          ["T1619"])
    for b in buckets:
        t += rng.randint(1, 20)
        a.add("collection", t, R.management(
            t, rng, ident, "s3.amazonaws.com", "GetBucketLocation", "us-east-1", b.account, ip,
            ua, read_only=True, req={"bucketName": b.name, "Host": "s3.amazonaws.com",
                                     "location": ""}))
        for page in range(1 + b.n_objects // 1000):
            t += rng.randint(1, 4)
            a.add("collection", t, R.s3_data(t, rng, ident, "ListObjectsV2", b.name, None,
                                             b.region, b.account, ip, ua,
                                             list_prefix="" if page == 0 else None))
    return t


def _sessions(org: Org, rng: random.Random, start: int, end: int,
              per_day: tuple[int, int], hours: tuple[int, int]) -> list[int]:
    """Start times of download sessions, a few a day, inside [start, end)."""
    out: list[int] = []
    day0 = start - (start - org.t0) % 86400
    while day0 < end:
        for _ in range(rng.randint(*per_day)):
            t = day0 + rng.randint(hours[0] * 3600, hours[1] * 3600 - 1)
            if start <= t < end:
                out.append(t)
        day0 += 86400
    return sorted(out) or [start]


def _download(ctx: Ctx, a: Attack, rng: random.Random, t: int, end: int, ident: R.Record,
              ua: str, ip: str, b: Bucket, n: int) -> int:
    """`n` GetObject calls on `b` from `t`, a few seconds apart; a few are denied."""
    for _ in range(n):
        t += rng.randint(0, 3)
        if t >= end:
            break
        k, size = ctx.random_object(rng, b)
        err = ("AccessDenied", "Access Denied") if rng.random() < 0.01 else None
        a.add("exfiltration", t, R.s3_data(t, rng, ident, "GetObject", b.name, k, b.region,
                                           b.account, ip, ua, bytes_out=size, error=err))
    return t


def _exfil(ctx: Ctx, a: Attack, rng: random.Random, start: int, end: int,
           who: list[tuple[R.Record, str]], ips: list[str], buckets: list[Bucket], n: int,
           sessions_per_day: tuple[int, int], hours: tuple[int, int] = (0, 24)) -> None:
    """About `n` GetObject calls between `start` and `end`, in download sessions."""
    if n <= 0 or end <= start:
        return
    sessions = _sessions(ctx.org, rng, start, end, sessions_per_day, hours)
    per = -(-n // len(sessions))
    for t in sessions:
        ident, ua = rng.choice(who)
        _download(ctx, a, rng, t, end, ident, ua, rng.choice(ips), rng.choice(buckets), per)


def _full(ctx: Ctx, rng: random.Random, a: Attack) -> None:
    org = ctx.org
    ci = org.ci
    assert ci is not None and org.attacker_pool is not None
    acct = ci.account
    pool = org.attacker_pool
    ip1 = pool.draw(rng)
    later_ips = [pool.draw(rng) for _ in range(rng.randint(2, 4))]
    ua1, ua2 = names.attacker_uas(rng)
    t = _theft_time(org, rng)
    clock = _Clock(org, rng, t)
    stolen = R.iam_user(acct, ci.name, ci.principal_id, ci.keys[0][1])
    th = names.trufflehog_ua(rng)
    for _ in range(rng.randint(1, 3)):
        a.add("credential-validation", t, R.management(
            t, rng, stolen, "sts.amazonaws.com", "GetCallerIdentity", "us-east-1", acct, ip1, th,
            read_only=True))
        t += rng.randint(1, 40)
    t += clock.gap(600, 4 * 3600)
    t = _iam_enum(org, a, rng, t, stolen, acct, ip1, ua1, (1, 15))
    t += clock.gap(300, 3600)
    t, target, new = _create_key(org, a, rng, t, stolen, acct, ip1, ua1)
    # The new key, later, from other infrastructure.
    t += clock.gap(6 * 3600, 22 * 3600)
    newid = R.iam_user(acct, target.name, target.principal_id, new)
    ip2 = later_ips[0]
    a.add("credential-validation", t, R.management(t, rng, newid, "sts.amazonaws.com",
                                                   "GetCallerIdentity", "us-east-1", acct, ip2,
                                                   ua2, read_only=True))
    scale = org.events_per_day * org.days
    t = _recon(org, a, rng, t + 30, newid, acct, ip2, ua2,
               n=max(40, min(600, scale // 1500)), deny=0.6, gap=(0, 3))
    buckets = _targets(ctx, rng, rng.randint(8, 16), ("mail", "db", "docs"))
    t = _list_buckets(ctx, a, rng, t + rng.randint(60, 900), newid, acct, ip2, ua2, buckets)
    n = max(300, min(60_000, int(scale * 0.025)))
    _exfil(ctx, a, rng, t + 600, org.end - 600,
           [(newid, ua2)] * 4 + [(stolen, ua1)], later_ips, buckets, n, (2, 5))


def _quiet(ctx: Ctx, rng: random.Random, a: Attack) -> None:
    org = ctx.org
    ci = org.ci
    assert ci is not None and org.attacker_pool is not None
    acct = ci.account
    ips = [org.attacker_pool.draw(rng) for _ in range(2)]
    cli_ua, js_ua, _ = org.ci_uas  # copied from the pipeline
    t = _theft_time(org, rng)
    if org.days >= 2:
        t = t - (t - org.t0) % 86400 + rng.randint(9 * 3600, 15 * 3600)  # working hours
    clock = _Clock(org, rng, t)
    stolen = R.iam_user(acct, ci.name, ci.principal_id, ci.keys[0][1])
    a.add("credential-validation", t, R.management(t, rng, stolen, "sts.amazonaws.com",
                                                   "GetCallerIdentity", org.home_region, acct,
                                                   ips[0], js_ua, read_only=True))
    t += clock.gap(1800, 4 * 3600)
    t = _iam_enum(org, a, rng, t, stolen, acct, ips[0], cli_ua, clock.pace(300, 2400))
    t += clock.gap(3600, 5 * 3600)
    t, target, new = _create_key(org, a, rng, t, stolen, acct, ips[0], cli_ua)
    target_ua = target.user_agents[0]
    newid = R.iam_user(acct, target.name, target.principal_id, new)
    t += clock.gap(12 * 3600, 30 * 3600)
    t = _recon(org, a, rng, t, newid, acct, ips[1], target_ua, n=rng.randint(15, 40), deny=0.3,
               gap=clock.pace(60, 900))
    buckets = _targets(ctx, rng, rng.randint(3, 6), ("mail", "docs"))
    t = _list_buckets(ctx, a, rng, t + clock.gap(600, 3600), newid, acct, ips[1], target_ua,
                      buckets)
    end = org.end - clock.gap(4 * 3600, 6 * 3600)
    start = t + clock.gap(3600, 2 * 3600)
    n = max(30, int(rng.randint(150, 400) * (end - start) / 86400))
    _exfil(ctx, a, rng, start, end, [(newid, target_ua)], ips, buckets, n, (6, 12),
           hours=(8, 18) if org.days >= 2 else (0, 24))
    # Cleanup: the created key is deleted with the stolen one.
    t_del = end + clock.gap(600, 3000)
    a.add("defense-evasion", t_del, R.management(
        t_del, rng, stolen, "iam.amazonaws.com", "DeleteAccessKey", "us-east-1", acct, ips[0],
        cli_ua, read_only=False, req={"userName": target.name, "accessKeyId": new}))


def _cross(ctx: Ctx, rng: random.Random, a: Attack) -> None:
    org = ctx.org
    ci = org.ci
    assert ci is not None and org.attacker_pool is not None
    acct = ci.account
    bk = org.accounts["backups"]
    ips = [org.attacker_pool.draw(rng) for _ in range(rng.randint(2, 3))]
    ua1, ua2 = names.attacker_uas(rng)
    t = _theft_time(org, rng)
    clock = _Clock(org, rng, t)
    stolen = R.iam_user(acct, ci.name, ci.principal_id, ci.keys[0][1])
    a.add("credential-validation", t, R.management(t, rng, stolen, "sts.amazonaws.com",
                                                   "GetCallerIdentity", "us-east-1", acct,
                                                   ips[0], ua1, read_only=True))
    t += clock.gap(120, 3600)
    for name, req in (("ListRoles", None), ("ListUsers", None),
                      ("GetRole", {"roleName": org.cross_roles["backups-operator"].name}),
                      ("ListAttachedUserPolicies", {"userName": ci.name})):
        t += rng.randint(2, 60)
        a.add("discovery", t, R.management(t, rng, stolen, "iam.amazonaws.com", name,
                                           "us-east-1", acct, ips[0], ua1, read_only=True,
                                           req=req))
    # A first, denied attempt at the management account's admin role.
    t += rng.randint(30, 600)
    mgmt = org.accounts["management"]
    denied_arn = f"arn:aws:iam::{mgmt}:role/OrganizationAccountAccessRole"
    a.add("lateral-movement", t, R.assume_role(
        t, rng, stolen, acct, mgmt, "OrganizationAccountAccessRole", "", denied_arn,
        "x", "", ips[0], ua1, "us-east-1",
        error=("AccessDenied", f"User: {ci.arn} is not authorized to perform: sts:AssumeRole "
                               f"on resource: {denied_arn}")), ["T1550.001"])
    op = org.cross_roles["backups-operator"]
    restore = org.cross_roles["backups-restore"]
    odd = rng.choice(["x", "test", "a", f"botocore-session-{t}", "aws-go-sdk-" + str(t * 1000),
                      "tmp"])
    k1 = key_id("ASIA", org.seed, "attacker-session", 1)
    t += rng.randint(30, 900)
    a.add("lateral-movement", t, R.assume_role(
        t, rng, stolen, acct, bk, op.name, op.role_id, op.arn, odd, k1, ips[0], ua1,
        "us-east-1"), ["T1550.001", "T1078.004"])
    s1 = R.assumed_role(bk, op.name, op.role_id, odd, k1, R.iso(t))
    a.key(k1)
    a.principal(s1["arn"])
    t += rng.randint(20, 600)
    odd2 = rng.choice(["y", "test2", "b", f"botocore-session-{t}", "session"])
    k2 = key_id("ASIA", org.seed, "attacker-session", 2)
    a.add("lateral-movement", t, R.assume_role(
        t, rng, s1, bk, bk, restore.name, restore.role_id, restore.arn, odd2, k2, ips[1], ua2,
        org.backup_region))
    s2 = R.assumed_role(bk, restore.name, restore.role_id, odd2, k2, R.iso(t))
    a.key(k2)
    a.principal(s2["arn"])
    t += rng.randint(10, 300)
    a.add("discovery", t, R.management(t, rng, s2, "sts.amazonaws.com", "GetCallerIdentity",
                                       org.backup_region, bk, ips[1], ua2, read_only=True))
    bks = list(org.backup_buckets.values())
    buckets = rng.sample(bks, min(len(bks), rng.randint(6, 12)))
    t = _list_buckets(ctx, a, rng, t + rng.randint(30, 600), s2, bk, ips[1], ua2, buckets)
    scale = org.events_per_day * org.days
    n = max(200, min(40_000, int(scale * 0.015)))
    # Chained role sessions last an hour at most: every download session starts with a fresh
    # chain (stolen key -> operator role -> restore role), each giving new ASIA keys.
    end = min(org.end - 600, t + 3 * 86400)
    sessions = _sessions(org, rng, t + 300, end, (2, 4), (0, 24))
    per = -(-n // len(sessions))
    for i, ts in enumerate(sessions):
        if i:
            ka = key_id("ASIA", org.seed, "attacker-session", i, 1)
            kb = key_id("ASIA", org.seed, "attacker-session", i, 2)
            a.add("lateral-movement", ts, R.assume_role(
                ts, rng, stolen, acct, bk, op.name, op.role_id, op.arn, odd, ka, ips[0], ua1,
                "us-east-1"))
            sa = R.assumed_role(bk, op.name, op.role_id, odd, ka, R.iso(ts))
            ts += rng.randint(2, 30)
            a.add("lateral-movement", ts, R.assume_role(
                ts, rng, sa, bk, bk, restore.name, restore.role_id, restore.arn, odd2, kb,
                ips[1], ua2, org.backup_region))
            s2 = R.assumed_role(bk, restore.name, restore.role_id, odd2, kb, R.iso(ts))
            a.key(ka)
            a.key(kb)
            a.principal(sa["arn"])
            a.principal(s2["arn"])
            ts += rng.randint(2, 30)
        _download(ctx, a, rng, ts, min(end, ts + 3500), s2, ua2, rng.choice(ips[1:]),
                  rng.choice(buckets), per)
