"""Benign activity that resembles a stage of the attack, each instance labelled in truth.json.

A detector that fires on any of these alone is noisy; one that raises a high-severity incident
on them is wrong (CONTRACT.md). Kinds:

- `key-rotation`: an administrator creates a key for another user (`CreateAccessKey` with a
  `userName`), the user's job switches to it, the old key is deactivated and deleted.
- `new-user-key`: onboarding a partner integration: `CreateUser`, `CreateAccessKey`, policy
  attachment, then the new key used from an address never seen before.
- `iam-access-review`: an administrator enumerates users, keys and policies from the CLI.
- `travel-new-ip`: a person signs in and works from a hotel network.
- `bulk-read`: a restore test copies hundreds of objects out of tenant buckets.
- `ci-new-runner`: the CI key used from a new runner after a runner-pool change.
- `trufflehog-self-scan`: the security team's secret scanning verifies a planted canary key
  (TruffleHog's `GetCallerIdentity`).
- `denied-burst`: somebody tries writes their permission set does not allow.

`schedule` decides the key rotation before any traffic is produced, because it changes which
key a cron user signs with; every process applies it to its own copy of the organisation.
"""

from __future__ import annotations

import random

from trailhound.simulate import ci as ci_mod
from trailhound.simulate import names
from trailhound.simulate import people as P
from trailhound.simulate import records as R
from trailhound.simulate.ctx import Ctx, Event
from trailhound.simulate.org import Org, User, key_id, rotated, stable_rng, unique_id

WITH_LOOKALIKES = ("benign", "full", "quiet", "cross-account")


def _when(org: Org, rng: random.Random, lo_h: int = 8, hi_h: int = 17) -> tuple[int, int]:
    day = rng.randrange(org.days)
    return day, org.t0 + day * 86400 + rng.randint(lo_h * 3600, hi_h * 3600)


def schedule(org: Org) -> tuple[str, int, str] | None:
    """(user, time, new key) of the benign key rotation, applied to `org`; None when the
    scenario has no look-alikes."""
    if org.scenario not in WITH_LOOKALIKES or not org.cron_users:
        return None
    rng = stable_rng("rotation", org.seed)
    u = rng.choice(org.cron_users)
    _day, t = _when(org, rng)
    new = key_id("AKIA", org.seed, u.name, 1)
    rotated(org, u.name, t + rng.randint(600, 3000), new)
    return u.name, t, new


def _admin(org: Org, rng: random.Random, perm: str = "AdministratorAccess") -> P.Person:
    cands = [p for p in org.people if p.permission_set == perm]
    return rng.choice(cands)


class _Collector:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.events: list[Event] = []
        self.labels: list[dict] = []

    def add(self, kind: str, principal: str, evs: list[Event]) -> None:
        # A look-alike that runs past the corpus's end is cut there, like any log window.
        evs = [(t, r) for t, r in evs if self.org.t0 <= t < self.org.end]
        if not evs:
            return
        self.events.extend(evs)
        self.labels.append({"kind": kind, "principal": principal,
                            "event_ids": [r["eventID"] for _, r in evs]})


def build(ctx: Ctx, rotation: tuple[str, int, str] | None) -> tuple[list[Event], list[dict]]:
    org = ctx.org
    c = _Collector(org)
    if org.scenario not in WITH_LOOKALIKES:
        return [], []
    rng = stable_rng("lookalikes", org.seed)
    if rotation:
        _key_rotation(c, rng, rotation)
    # How many of each varies with the seed, so that no count is a constant to learn.
    for i in range(rng.randint(1, 2)):
        _new_user_key(c, rng, i)
    for _ in range(rng.randint(1, 2)):
        _access_review(c, rng)
    for _ in range(rng.randint(1, 3)):
        _travel(c, rng)
    _bulk_read(ctx, c, rng)
    _ci_new_runner(c, rng)
    _trufflehog_self_scan(c, rng)
    for _ in range(rng.randint(1, 3)):
        _denied_burst(c, rng)
    return c.events, c.labels


def _admin_ident(org: Org, rng: random.Random, t: int) -> tuple[R.Record, str, str, str]:
    admin = _admin(org, rng)
    day = (t - org.t0) // 86400
    d = P.day_of(org, admin, day)
    d = P.Day(True, t - 1800, t + 7200, d.ip, "hosting-prod")
    ident = P.session(org, admin, d, day, "cli")
    return ident, d.ip, admin.cli_ua, org.accounts["hosting-prod"]


def _key_rotation(c: _Collector, rng: random.Random, rot: tuple[str, int, str]) -> None:
    org = c.org
    name, t, new = rot
    u = org.user(name)
    old = u.keys[0][1]
    ident, ip, ua, acct = _admin_ident(org, rng, t)
    evs: list[Event] = []
    rr = random.Random(rng.getrandbits(64))
    evs.append((t, R.management(t, rr, ident, "iam.amazonaws.com", "ListAccessKeys", "us-east-1",
                                acct, ip, ua, read_only=True, req={"userName": name})))
    t += rng.randint(20, 120)
    evs.append((t, R.management(
        t, rr, ident, "iam.amazonaws.com", "CreateAccessKey", "us-east-1", acct, ip, ua,
        read_only=False, req={"userName": name},
        resp={"accessKey": {"accessKeyId": new, "status": "Active", "userName": name,
                            "createDate": R.create_date(t)}})))
    # Old key deactivated half a day to two days later, deleted after that: compressed to fit
    # when the corpus ends sooner.
    left = org.end - t
    t2 = t + rng.randint(min(43200, left // 4), min(2 * 86400, left // 2))
    ident2, ip2, ua2, _ = _admin_ident(org, rng, t2)
    evs.append((t2, R.management(t2, rr, ident2, "iam.amazonaws.com", "UpdateAccessKey",
                                 "us-east-1", acct, ip2, ua2, read_only=False,
                                 req={"userName": name, "accessKeyId": old,
                                      "status": "Inactive"})))
    t3 = t2 + rng.randint(min(3600, left // 8), min(86400, left // 3))
    evs.append((t3, R.management(t3, rr, ident2, "iam.amazonaws.com", "DeleteAccessKey",
                                 "us-east-1", acct, ip2, ua2, read_only=False,
                                 req={"userName": name, "accessKeyId": old})))
    c.add("key-rotation", ident["arn"], evs)


def _new_user_key(c: _Collector, rng: random.Random, index: int) -> None:
    org = c.org
    _day, t = _when(org, rng)
    ident, ip, ua, acct = _admin_ident(org, rng, t)
    rr = random.Random(rng.getrandbits(64))
    name = rng.choice(["partner-", "vendor-", "integration-"]) + rng.choice(
        ["newsletter", "translation", "analytics", "search", "payments"]) + "-sync"
    if index:
        name += f"-{index + 1}"
    pid = unique_id("AIDA", org.seed, name)
    key = key_id("AKIA", org.seed, name, 0)
    evs: list[Event] = []
    evs.append((t, R.management(t, rr, ident, "iam.amazonaws.com", "CreateUser", "us-east-1",
                                acct, ip, ua, read_only=False, req={"userName": name},
                                resp={"user": {"path": "/", "userName": name, "userId": pid,
                                               "arn": f"arn:aws:iam::{acct}:user/{name}",
                                               "createDate": R.create_date(t)}})))
    t += rng.randint(10, 60)
    evs.append((t, R.management(t, rr, ident, "iam.amazonaws.com", "AttachUserPolicy",
                                "us-east-1", acct, ip, ua, read_only=False,
                                req={"userName": name, "policyArn":
                                     f"arn:aws:iam::{acct}:policy/{name}-upload"})))
    t += rng.randint(10, 60)
    evs.append((t, R.management(
        t, rr, ident, "iam.amazonaws.com", "CreateAccessKey", "us-east-1", acct, ip, ua,
        read_only=False, req={"userName": name},
        resp={"accessKey": {"accessKeyId": key, "status": "Active", "userName": name,
                            "createDate": R.create_date(t)}})))
    # The partner starts using it a few hours later, from their own network.
    partner_ip = org.legit_pool.draw(rng) if org.legit_pool else ip
    pua = names.boto3_ua(rng)
    uident = R.iam_user(acct, name, pid, key)
    t += rng.randint(3600, 6 * 3600)
    evs.append((t, R.management(t, rr, uident, "sts.amazonaws.com", "GetCallerIdentity",
                                "us-east-1", acct, partner_ip, pua, read_only=True)))
    b = rng.choice(org.tenant_buckets)
    for _ in range(rng.randint(20, 60)):
        t += rng.randint(30, 900)
        k = f"incoming/{rng.getrandbits(40):010x}.json"
        evs.append((t, R.s3_data(t, rr, uident, "PutObject", b.name, k, b.region, b.account,
                                 partner_ip, pua, bytes_in=rng.randint(2000, 400_000))))
    c.add("new-user-key", f"arn:aws:iam::{acct}:user/{name}", evs)


def _access_review(c: _Collector, rng: random.Random) -> None:
    org = c.org
    _day, t = _when(org, rng)
    ident, ip, ua, acct = _admin_ident(org, rng, t)
    rr = random.Random(rng.getrandbits(64))
    evs: list[Event] = []
    evs.append((t, R.management(t, rr, ident, "sts.amazonaws.com", "GetCallerIdentity",
                                "us-east-1", acct, ip, ua, read_only=True)))
    evs.append((t + 3, R.management(t + 3, rr, ident, "iam.amazonaws.com", "ListUsers",
                                    "us-east-1", acct, ip, ua, read_only=True)))
    t += 5
    users: list[User] = [u for u in (org.ci, *org.cron_users, *org.idle_users) if u]
    for u in users:
        for name in ("ListAccessKeys", "ListAttachedUserPolicies", "ListUserPolicies",
                     "ListMFADevices", "GetAccessKeyLastUsed"):
            t += rng.randint(0, 2)
            req: dict = {"userName": u.name}
            if name == "GetAccessKeyLastUsed":
                req = {"accessKeyId": u.keys[0][1]}
            evs.append((t, R.management(t, rr, ident, "iam.amazonaws.com", name, "us-east-1",
                                        acct, ip, ua, read_only=True, req=req)))
    c.add("iam-access-review", ident["arn"], evs)


def _travel(c: _Collector, rng: random.Random) -> None:
    org = c.org
    p = rng.choice(org.people)
    day, t = _when(org, rng, 6, 12)
    ip = org.travel_pool.draw(rng) if org.travel_pool else p.home_ip
    d = P.Day(True, t, t + rng.randint(2, 5) * 3600, ip, "hosting-prod")
    evs: list[Event] = []
    rr = random.Random(rng.getrandbits(64))
    P.sign_in(org, p, d, day, rr, evs)
    P.work(org, p, d, day, d.start + 60, d.end, rng.randint(20, 80), rr, evs)
    c.add("travel-new-ip", P.session(org, p, d, day, "console")["arn"], evs)


def _bulk_read(ctx: Ctx, c: _Collector, rng: random.Random) -> None:
    org = c.org
    p = _admin(org, rng, rng.choice(["PowerUserAccess", "AdministratorAccess"]))
    day, t = _when(org, rng, 9, 15)
    d = P.Day(True, t - 600, t + 6 * 3600, rng.choice(org.office_ips), "hosting-prod")
    ident = P.session(org, p, d, day, "cli")
    rr = random.Random(rng.getrandbits(64))
    evs: list[Event] = []
    for b in rng.sample(org.tenant_buckets, min(3, len(org.tenant_buckets))):
        evs.append((t, R.s3_data(t, rr, ident, "ListObjectsV2", b.name, None, b.region,
                                 b.account, d.ip, p.cli_ua + " command/s3.sync")))
        n = min(b.n_objects, max(30, min(700, org.events_per_day * org.days // 300)))
        for k, size in (ctx.obj(b, i) for i in range(rng.randint(n // 2, n))):
            t += rng.randint(0, 2)
            evs.append((t, R.s3_data(t, rr, ident, "GetObject", b.name, k, b.region, b.account,
                                     d.ip, p.cli_ua + " command/s3.sync", bytes_out=size)))
    c.add("bulk-read", ident["arn"], evs)


def _ci_new_runner(c: _Collector, rng: random.Random) -> None:
    org = c.org
    assert org.ci is not None and org.legit_pool is not None
    _day, t = _when(org, rng, 8, 12)
    ip = org.legit_pool.draw(rng)
    evs: list[Event] = []
    rr = random.Random(rng.getrandbits(64))
    for _ in range(rng.randint(3, 8)):
        t += rng.randint(600, 3600)
        ci_mod.run(org, t, rr, ip, evs, kind="deploy")
    c.add("ci-new-runner", org.ci.arn, evs)


def _trufflehog_self_scan(c: _Collector, rng: random.Random) -> None:
    """The secret-scanning job finds the planted canary key in a test repository and
    TruffleHog verifies it (`GetCallerIdentity`, TruffleHog's user agent) from the scanner."""
    org = c.org
    name = rng.choice(["canary-", "honeytoken-", "tripwire-"]) + rng.choice(
        ["ci", "repo", "deploy", "backup"]) + "-key"
    acct = org.accounts["hosting-prod"]
    ident = R.iam_user(acct, name, unique_id("AIDA", org.seed, name),
                       key_id("AKIA", org.seed, name, 0))
    _day, t = _when(org, rng, 0, 23)
    ip = org.scanner_ips[0]
    rr = random.Random(rng.getrandbits(64))
    ua = names.trufflehog_ua(rng)
    evs: list[Event] = []
    for _ in range(rng.randint(1, 2)):
        evs.append((t, R.management(t, rr, ident, "sts.amazonaws.com", "GetCallerIdentity",
                                    "us-east-1", acct, ip, ua, read_only=True)))
        t += rng.randint(1, 5)
    c.add("trufflehog-self-scan", ident["arn"], evs)


def _denied_burst(c: _Collector, rng: random.Random) -> None:
    org = c.org
    p = _admin(org, rng, "ReadOnlyAccess")
    day, t = _when(org, rng)
    d = P.day_of(org, p, day)
    d = P.Day(True, t - 3600, t + 3600, d.ip, "hosting-prod")
    ident = P.session(org, p, d, day, "cli")
    rr = random.Random(rng.getrandbits(64))
    evs: list[Event] = []
    acct = org.accounts["hosting-prod"]
    calls = [("ec2.amazonaws.com", "RunInstances", "Client.UnauthorizedOperation"),
             ("iam.amazonaws.com", "CreateAccessKey", "AccessDenied"),
             ("iam.amazonaws.com", "ListUsers", None),
             ("s3.amazonaws.com", "PutBucketPolicy", "AccessDenied"),
             ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", "AccessDeniedException"),
             ("secretsmanager.amazonaws.com", "GetSecretValue", "AccessDeniedException")]
    for _ in range(rng.randint(8, 25)):
        t += rng.randint(5, 120)
        src, name, code = rng.choice(calls)
        region = "us-east-1" if src == "iam.amazonaws.com" else org.home_region
        err = (code, f"User: {ident['arn']} is not authorized to perform: "
                     f"{src.split('.')[0]}:{name}") if code else None
        evs.append((t, R.management(t, rr, ident, src, name, region, acct, d.ip, p.cli_ua,
                                    read_only=name == "ListUsers", error=err)))
    c.add("denied-burst", ident["arn"], evs)
