"""People on IAM Identity Center: sign-in, console browsing, CLI work, the odd denial.

A person's day (present or not, start, length, where from) is drawn from (seed, day, person),
so any hour of that day can be produced alone. Their sessions are AssumedRole identities of
`AWSReservedSSO_<permission set>_<hex>` roles; console calls carry
`sessionCredentialFromConsole`; IdentityCenter itself logs `Authenticate`, `Federate`,
`GetRoleCredentials`, `ListAccounts` in the management account.

Administrators occasionally list users and access keys, everybody checks who they are with
`GetCallerIdentity` now and then: ordinary traffic that also looks like reconnaissance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from trailhound.simulate import records as R
from trailhound.simulate.ctx import Ctx, Event, count, ri, rr
from trailhound.simulate.org import Org, Person, key_id, stable_rng, unique_id

SHARE_PEOPLE = 0.11

_CONSOLE = (
    ("ec2.amazonaws.com", "DescribeInstances", None),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", None),
    ("ec2.amazonaws.com", "DescribeVpcs", None),
    ("monitoring.amazonaws.com", "GetMetricData", None),
    ("monitoring.amazonaws.com", "DescribeAlarms", None),
    ("logs.amazonaws.com", "DescribeLogGroups", None),
    ("logs.amazonaws.com", "FilterLogEvents", None),
    ("rds.amazonaws.com", "DescribeDBInstances", None),
    ("ecs.amazonaws.com", "ListClusters", None),
    ("ecs.amazonaws.com", "DescribeServices", None),
    ("s3.amazonaws.com", "ListBuckets", "global"),
    ("s3.amazonaws.com", "GetBucketLocation", "bucket"),
    ("cloudfront.amazonaws.com", "ListDistributions", "global"),
    ("health.amazonaws.com", "DescribeEventAggregates", "global"),
    ("ce.amazonaws.com", "GetCostAndUsage", "global"),
)
_ADMIN = (
    ("iam.amazonaws.com", "ListUsers"), ("iam.amazonaws.com", "ListRoles"),
    ("iam.amazonaws.com", "GetUser"), ("iam.amazonaws.com", "ListAccessKeys"),
    ("iam.amazonaws.com", "ListPolicies"), ("iam.amazonaws.com", "GetAccountSummary"),
)
_WRITES = (
    ("ec2.amazonaws.com", "RebootInstances"), ("ecs.amazonaws.com", "UpdateService"),
    ("ssm.amazonaws.com", "StartSession"), ("logs.amazonaws.com", "PutRetentionPolicy"),
)


@dataclass(frozen=True)
class Day:
    present: bool
    start: int  # epoch seconds
    end: int
    ip: str
    account_role: str


def day_of(org: Org, p: Person, day: int) -> Day:
    rng = stable_rng("person-day", org.seed, p.login, day)
    t_day = org.t0 + day * 86400
    wd = (org.start.weekday() + day) % 7
    present = wd in p.workdays and rng.random() > 0.08
    if wd >= 5 and rng.random() < 0.05:
        present = True  # somebody always looks at something on a weekend
    start = t_day + (p.start_hour - 1) * 3600 + rng.randrange(-2400, 2400)
    end = start + p.hours * 3600 + rng.randrange(-3600, 3600)
    office = p.office and wd < 5 and rng.random() < 0.7
    ip = rng.choice(org.office_ips) if office else p.home_ip
    acct = rng.choices(["hosting-prod", "backups", "management", "security"],
                       weights=[8, 2, 1, 1])[0]
    return Day(present, start, end, ip, acct)


def session(org: Org, p: Person, d: Day, day: int, channel: str) -> R.Record:
    role = org.sso_role(d.account_role, p.permission_set)
    key = key_id("ASIA", org.seed, p.login, day, channel)
    return R.assumed_role(role.account, role.name, role.role_id, p.login, key, R.iso(d.start),
                          path=role.path)


def people(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event]) -> None:
    org = ctx.org
    day = (hour_t - org.t0) // 86400
    n = max(1, len(org.people))
    avg_hours = sum(p.hours for p in org.people) / n
    per_person_hour = (SHARE_PEOPLE * org.mix["people"] * org.events_per_day
                       / (n * avg_hours * 5 / 7))
    for p in org.people:
        d = day_of(org, p, day)
        if not d.present or d.end <= hour_t or d.start >= hour_t + 3600:
            continue
        lo, hi = max(hour_t, d.start), min(hour_t + 3600, d.end)
        if hour_t <= d.start < hour_t + 3600:
            sign_in(org, p, d, day, rng, out)
        work(org, p, d, day, lo, hi, count(per_person_hour * (hi - lo) / 3600, rng), rng, out)


def sign_in(org: Org, p: Person, d: Day, day: int, rng: random.Random,
            out: list[Event], *, ua: str | None = None) -> None:
    """IdentityCenter sign-in, then the console sign-in into the chosen account."""
    mgmt = org.accounts["management"]
    uid = unique_id("", org.seed, p.login)[:10] + "-" + unique_id("", p.login)[:8].lower()
    store = f"arn:aws:identitystore::{mgmt}:identitystore/d-{mgmt[-10:]}"
    ic = R.identity_center_user(mgmt, uid, store)
    t = d.start
    bua = ua or p.browser_ua
    out.append((t, R.management(t, rng, ic, "sso.amazonaws.com", "Authenticate", org.home_region,
                                mgmt, d.ip, bua, read_only=False, event_type="AwsServiceEvent",
                                tls_on=False, resp=None, additional={"MFAUsed": "true"})))
    out.append((t + 2, R.management(t + 2, rng, ic, "sso.amazonaws.com", "ListAccounts",
                                    org.home_region, mgmt, d.ip, bua, read_only=True)))
    role = org.sso_role(d.account_role, p.permission_set)
    out.append((t + 9, R.management(t + 9, rng, ic, "sso.amazonaws.com", "Federate",
                                    org.home_region, mgmt, d.ip, bua, read_only=True,
                                    req={"roleName": role.name,
                                         "accountId": org.accounts[d.account_role]})))
    if rng.random() < p.cli_share:
        out.append((t + 60, R.management(
            t + 60, rng, ic, "sso.amazonaws.com", "GetRoleCredentials", org.home_region, mgmt,
            d.ip, p.cli_ua, read_only=True,
            req={"roleName": role.name, "accountId": org.accounts[d.account_role]})))
    ident = session(org, p, d, day, "console")
    acct = org.accounts[d.account_role]
    out.append((t + 11, R.management(
        t + 11, rng, ident, "signin.amazonaws.com", "ConsoleLogin", "us-east-1", acct, d.ip,
        bua, read_only=False, event_type="AwsConsoleSignIn", resp={"ConsoleLogin": "Success"},
        additional={"MobileVersion": "No", "MFAUsed": "No"})))


def work(org: Org, p: Person, d: Day, day: int, lo: int, hi: int, n: int,
         rng: random.Random, out: list[Event], *, ip: str | None = None) -> None:
    """`n` calls between `lo` and `hi`, console or CLI as the person prefers."""
    acct = org.accounts[d.account_role]
    console_ident = session(org, p, d, day, "console")
    cli_ident = session(org, p, d, day, "cli")
    src_ip = ip or d.ip
    is_admin = p.permission_set == "AdministratorAccess"
    for _ in range(n):
        t = lo + rr(rng, max(1, hi - lo))
        cli = rng.random() < p.cli_share
        ident, ua = (cli_ident, p.cli_ua) if cli else (console_ident, p.browser_ua)
        x = rng.random()
        err = None
        if cli and x < 0.06:
            out.append((t, R.management(t, rng, ident, "sts.amazonaws.com", "GetCallerIdentity",
                                        org.home_region if rng.random() < 0.6 else "us-east-1",
                                        acct, src_ip, ua, read_only=True)))
            continue
        if is_admin and x < 0.12:
            src, name = _ADMIN[rr(rng, len(_ADMIN))]
            req = _iam_req(org, rng, name)
            out.append((t, R.management(t, rng, ident, src, name, "us-east-1", acct, src_ip, ua,
                                        read_only=True, req=req, console=not cli)))
            continue
        if x > 0.96:
            src, name = _WRITES[rr(rng, len(_WRITES))]
            if p.permission_set == "ReadOnlyAccess":
                err = ("AccessDenied" if src != "ec2.amazonaws.com"
                       else "Client.UnauthorizedOperation", _denied(ident, name, src))
            out.append((t, R.management(t, rng, ident, src, name, org.home_region, acct, src_ip,
                                        ua, read_only=False, error=err, console=not cli)))
            continue
        if cli and x < 0.3:
            b = org.tenant_buckets[rr(rng, len(org.tenant_buckets))]
            if d.account_role == "hosting-prod":
                if rng.random() < 0.5:
                    out.append((t, R.s3_data(t, rng, ident, "ListObjectsV2", b.name, None,
                                             b.region, b.account, src_ip, ua)))
                else:
                    rng2 = stable_rng("objpick", b.name)
                    k = f"{rng2.choice(['index.html', 'robots.txt', 'sitemap.xml'])}"
                    out.append((t, R.s3_data(t, rng, ident, "GetObject", b.name, k, b.region,
                                             b.account, src_ip, ua,
                                             bytes_out=ri(rng, 300, 90_000))))
                continue
        src, name, scope = _CONSOLE[rr(rng, len(_CONSOLE))]
        region = "us-east-1" if scope == "global" else org.home_region
        req = None
        if scope == "bucket":
            b = org.tenant_buckets[rr(rng, len(org.tenant_buckets))]
            req = {"bucketName": b.name, "Host": "s3.amazonaws.com", "location": ""}
        out.append((t, R.management(t, rng, ident, src, name, region, acct, src_ip, ua,
                                    read_only=True, req=req, console=not cli)))


def _iam_req(org: Org, rng: random.Random, name: str) -> R.Record | None:
    if name in ("GetUser", "ListAccessKeys"):
        users = [*org.cron_users, *org.idle_users]
        return {"userName": users[rr(rng, len(users))].name}
    if name == "ListPolicies":
        return {"scope": "Local", "onlyAttached": False}
    return None


def _denied(ident: R.Record, name: str, src: str) -> str:
    return (f"User: {ident['arn']} is not authorized to perform: {src.split('.')[0]}:{name} "
            f"because no identity-based policy allows the {src.split('.')[0]}:{name} action")
