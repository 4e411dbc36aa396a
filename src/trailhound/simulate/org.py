"""The simulated organisation: a multi-account web-hosting platform, built from the seed alone.

Every process that writes part of the corpus rebuilds the same `Org` from `(seed, scenario,
start, days, events_per_day)`, so nothing large has to be shipped between processes and the
output is byte-identical whatever the number of workers. Everything a detector could latch onto
(account ids, names, IP addresses, user agents, schedules, volumes) is drawn from the seed, so
that rules cannot be tuned to one fixed corpus.

Attacker infrastructure and legitimate infrastructure come from disjoint, seed-shuffled pools
of /16 networks: an IP is never both.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from trailhound.simulate import names

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

# First octets of unicast public space that are not reserved, private, multicast or loopback.
_PUBLIC_FIRST_OCTETS = [
    o for o in range(1, 224)
    if o not in (10, 100, 127, 169, 172, 192, 198, 203, 0, 6, 7, 11, 21, 22, 26, 28, 29, 30,
                 33, 55, 214, 215)
]

ROLES = ("management", "hosting-prod", "backups", "security")


def stable_rng(*parts: object) -> random.Random:
    """A generator seeded from a tuple of values, identical in every process and Python run
    (unlike `hash()`, which is salted per process)."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(h, "big"))


def key_id(prefix: str, *parts: object) -> str:
    """An AWS-style access key id (AKIA/ASIA + 16 characters), stable for the same parts."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()
    return prefix + "".join(_ID_ALPHABET[b % 32] for b in h)


def unique_id(prefix: str, *parts: object) -> str:
    """A principal id (AIDA.../AROA...): prefix + 17 characters."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=17).digest()
    return prefix + "".join(ALNUM[b % 36] for b in h)


@dataclass(frozen=True)
class IpPool:
    """Addresses drawn from a fixed set of /16 networks."""

    networks: tuple[tuple[int, int], ...]

    def draw(self, rng: random.Random) -> str:
        a, b = rng.choice(self.networks)
        return f"{a}.{b}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


@dataclass(frozen=True)
class Bucket:
    name: str
    account: str
    region: str
    tenant: str | None
    kind: str  # web, mail, db, docs, backup, artifacts, logs
    n_objects: int
    mean_size: int


@dataclass(frozen=True)
class User:
    """An IAM user with a long-lived key; `keys` is the key timeline [(valid_from, key_id)]."""

    name: str
    account: str
    principal_id: str
    keys: tuple[tuple[int, str], ...]
    ips: tuple[str, ...]
    user_agents: tuple[str, ...]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.name}"

    def key_at(self, t: int) -> str:
        current = self.keys[0][1]
        for since, k in self.keys:
            if since <= t:
                current = k
        return current


@dataclass(frozen=True)
class Person:
    """Somebody on IAM Identity Center: permission set, usual IPs, browser and CLI agents."""

    login: str
    permission_set: str
    office: bool
    home_ip: str
    browser_ua: str
    cli_ua: str
    start_hour: int
    hours: int
    cli_share: float
    workdays: tuple[int, ...]


@dataclass(frozen=True)
class Role:
    name: str
    account: str
    role_id: str
    path: str = "/"

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"


@dataclass
class Org:
    seed: int
    scenario: str
    start: date
    days: int
    events_per_day: int
    t0: int = 0
    accounts: dict[str, str] = field(default_factory=dict)
    org_id: str = ""
    home_region: str = ""
    backup_region: str = ""
    extra_regions: tuple[str, ...] = ()
    all_regions: tuple[str, ...] = ()
    tenants: list[str] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    tenant_buckets: list[Bucket] = field(default_factory=list)
    backup_buckets: dict[str, Bucket] = field(default_factory=dict)
    artifacts_bucket: Bucket | None = None
    trail_bucket: str = ""
    trail_name: str = ""
    ci: User | None = None
    cron_users: list[User] = field(default_factory=list)
    idle_users: list[User] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    sso_roles: dict[tuple[str, str], Role] = field(default_factory=dict)
    web_role: Role | None = None
    web_instances: list[tuple[str, str]] = field(default_factory=list)  # (instance id, private ip)
    web_ua: str = ""
    vpce: str = ""
    backup_role: Role | None = None
    backup_instance: str = ""
    backup_ips: tuple[str, ...] = ()
    backup_ua: str = ""
    scanner_role: Role | None = None
    audit_roles: dict[str, Role] = field(default_factory=dict)
    scanner_ips: tuple[str, ...] = ()
    scanner_ua: str = ""
    scanner_hour: int = 0
    backup_hour: int = 1
    mix: dict[str, float] = field(default_factory=dict)
    ci_runner_ips: tuple[str, ...] = ()
    ci_uas: tuple[str, ...] = ()
    office_ips: tuple[str, ...] = ()
    cross_roles: dict[str, Role] = field(default_factory=dict)
    legit_pool: IpPool | None = None
    attacker_pool: IpPool | None = None
    travel_pool: IpPool | None = None

    @property
    def end(self) -> int:
        return self.t0 + self.days * 86400

    def user(self, name: str) -> User:
        for u in [self.ci, *self.cron_users, *self.idle_users]:
            if u is not None and u.name == name:
                return u
        raise KeyError(name)

    def tenant_of(self) -> dict[str, str]:
        return {b.name: b.tenant for b in self.buckets if b.tenant}

    def sso_role(self, account_role: str, permission_set: str) -> Role:
        return self.sso_roles[(account_role, permission_set)]


def _pools(rng: random.Random) -> tuple[IpPool, IpPool, IpPool]:
    octets = list(_PUBLIC_FIRST_OCTETS)
    rng.shuffle(octets)
    legit_o, attack_o, travel_o = octets[:40], octets[40:60], octets[60:80]

    def nets(firsts: list[int], n: int) -> tuple[tuple[int, int], ...]:
        return tuple((rng.choice(firsts), rng.randrange(0, 256)) for _ in range(n))

    return IpPool(nets(legit_o, 60)), IpPool(nets(attack_o, 30)), IpPool(nets(travel_o, 30))


def _account_id(rng: random.Random, used: set[str]) -> str:
    while True:
        a = str(rng.randrange(10**11, 10**12 - 1)).rjust(12, "0")
        if a not in used:
            used.add(a)
            return a


def build(seed: int, scenario: str, start: date, days: int, events_per_day: int) -> Org:
    """Everything about the organisation that does not depend on time of day."""
    rng = stable_rng("org", seed)
    org = Org(seed=seed, scenario=scenario, start=start, days=days,
              events_per_day=events_per_day)
    org.t0 = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    used: set[str] = set()
    org.accounts = {r: _account_id(rng, used) for r in ROLES}
    org.org_id = "o-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                for _ in range(10))
    org.home_region, org.backup_region = rng.sample(names.HOME_REGIONS, 2)
    others = [r for r in names.ALL_REGIONS if r not in (org.home_region, org.backup_region)]
    org.extra_regions = tuple(rng.sample(others, 2))
    org.all_regions = tuple(names.ALL_REGIONS)
    org.legit_pool, org.attacker_pool, org.travel_pool = _pools(rng)
    legit = org.legit_pool
    prod, bk, mgmt, sec = (org.accounts[r] for r in ("hosting-prod", "backups", "management",
                                                     "security"))
    platform = rng.choice(names.PLATFORM_WORDS)
    org.trail_name = f"{platform}-org-trail"
    org.trail_bucket = f"{platform}-cloudtrail-{mgmt}"

    # Tenants and their buckets.
    n_tenants = rng.randint(28, 48)
    org.tenants = names.tenants(rng, n_tenants)
    for tenant in org.tenants:
        slug = names.slug(tenant)
        kinds = ["web", *rng.sample(["mail", "db", "docs"], rng.randint(0, 3))]
        for kind in kinds:
            suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5))
            name = names.bucket_name(rng, slug, kind, suffix)
            n_obj = {"web": rng.randint(300, 4000), "mail": rng.randint(2000, 12000),
                     "db": rng.randint(20, 200), "docs": rng.randint(200, 3000)}[kind]
            size = {"web": 60_000, "mail": 90_000, "db": 40_000_000, "docs": 900_000}[kind]
            b = Bucket(name, prod, org.home_region, tenant, kind, n_obj,
                       int(size * rng.uniform(0.5, 1.8)))
            org.tenant_buckets.append(b)
        bkb = Bucket(f"{names.slug(tenant)[:30]}-bk-{bk[-4:]}-{org.backup_region}", bk,
                     org.backup_region, tenant, "backup", rng.randint(300, 3000),
                     int(4_000_000 * rng.uniform(0.5, 2)))
        org.backup_buckets[tenant] = bkb
    org.artifacts_bucket = Bucket(f"{platform}-build-artifacts-{prod[-5:]}", prod,
                                  org.home_region, None, "artifacts", 2000, 20_000_000)
    org.buckets = [*org.tenant_buckets, *org.backup_buckets.values(), org.artifacts_bucket]

    # The CI/CD user: one long-lived key, a handful of self-hosted runners.
    ci_name = rng.choice(names.CI_USER_NAMES)
    org.ci_runner_ips = tuple(legit.draw(rng) for _ in range(rng.randint(2, 4)))
    org.ci_uas = names.ci_user_agents(rng)
    org.ci = User(ci_name, prod, unique_id("AIDA", seed, ci_name),
                  ((0, key_id("AKIA", seed, ci_name, 0)),), org.ci_runner_ips, org.ci_uas)

    # Cron jobs with IAM-user keys, and users that exist but are rarely used.
    cron_hosts = [legit.draw(rng) for _ in range(3)]
    for cname in rng.sample(names.CRON_USER_NAMES, rng.randint(3, 5)):
        ips = tuple(rng.sample(cron_hosts, rng.randint(1, 2)))
        org.cron_users.append(User(cname, prod, unique_id("AIDA", seed, cname),
                                   ((0, key_id("AKIA", seed, cname, 0)),), ips,
                                   (names.boto3_ua(rng),)))
    for iname in rng.sample(names.IDLE_USER_NAMES, rng.randint(3, 6)):
        org.idle_users.append(User(iname, prod, unique_id("AIDA", seed, iname),
                                   ((0, key_id("AKIA", seed, iname, 0)),),
                                   (legit.draw(rng),), (names.boto3_ua(rng),)))

    # People on IAM Identity Center.
    org.office_ips = tuple(legit.draw(rng) for _ in range(rng.randint(2, 3)))
    for login in names.people(rng, rng.randint(9, 18)):
        ps = rng.choices(["AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess",
                          "DeveloperAccess"], weights=[2, 4, 3, 4])[0]
        org.people.append(Person(
            login=login, permission_set=ps, office=rng.random() < 0.6,
            home_ip=legit.draw(rng), browser_ua=names.browser_ua(rng), cli_ua=names.cli_ua(rng),
            start_hour=rng.randint(6, 10), hours=rng.randint(6, 10),
            cli_share=rng.uniform(0.1, 0.7),
            workdays=(0, 1, 2, 3, 4) if rng.random() < 0.85 else (0, 1, 2, 3, 4, 5)))
    for want in ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess"):
        if not any(p.permission_set == want for p in org.people):
            i = next(i for i, p in enumerate(org.people)
                     if sum(q.permission_set == p.permission_set for q in org.people) > 1)
            org.people[i] = replace(org.people[i], permission_set=want)
    sso_region = org.home_region
    for role_name, acct in org.accounts.items():
        for ps in ("AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "DeveloperAccess"):
            hexs = "".join(rng.choice("0123456789abcdef") for _ in range(16))
            org.sso_roles[(role_name, ps)] = Role(
                f"AWSReservedSSO_{ps}_{hexs}", acct, unique_id("AROA", seed, acct, ps),
                f"/aws-reserved/sso.amazonaws.com/{sso_region}/")

    # Web tier: instances reading tenant objects through a gateway VPC endpoint.
    wr = rng.choice(names.WEB_ROLE_NAMES)
    org.web_role = Role(wr, prod, unique_id("AROA", seed, wr))
    net = rng.randrange(0, 64)
    org.web_instances = [
        ("i-0" + "".join(rng.choice("0123456789abcdef") for _ in range(16)),
         f"10.{net}.{rng.randrange(0, 4)}.{rng.randrange(4, 250)}")
        for _ in range(rng.randint(4, 12))
    ]
    org.web_ua = names.sdk_ua(rng)
    org.vpce = "vpce-0" + "".join(rng.choice("0123456789abcdef") for _ in range(16))

    # Nightly backups from the backups account (cross-account reads of tenant buckets).
    br = rng.choice(names.BACKUP_ROLE_NAMES)
    org.backup_role = Role(br, bk, unique_id("AROA", seed, br))
    org.backup_instance = "i-0" + "".join(rng.choice("0123456789abcdef") for _ in range(16))
    org.backup_ips = tuple(legit.draw(rng) for _ in range(2))
    org.backup_ua = names.backup_ua(rng)

    # The security scanner: a role in the security account that assumes an audit role everywhere.
    sr = rng.choice(names.SCANNER_ROLE_NAMES)
    org.scanner_role = Role(sr, sec, unique_id("AROA", seed, sr))
    audit = rng.choice(names.AUDIT_ROLE_NAMES)
    org.audit_roles = {r: Role(audit, a, unique_id("AROA", seed, audit, a))
                       for r, a in org.accounts.items()}
    org.scanner_ips = tuple(legit.draw(rng) for _ in range(rng.randint(1, 2)))
    org.scanner_ua = names.boto3_ua(rng, extra=rng.choice(names.SCANNER_TAGS))
    org.scanner_hour = rng.randint(0, 23)
    org.backup_hour = rng.randint(0, 3)
    # How this organisation's traffic divides between its kinds: each share moves by up to a
    # third either way, renormalised so events_per_day still holds.
    kinds = ("web", "backup", "services", "cron", "people", "ci", "scanner")
    raw = {k: rng.uniform(0.67, 1.33) for k in kinds}
    norm = sum(raw.values()) / len(kinds)
    org.mix = {k: v / norm for k, v in raw.items()}

    # Roles that allow moving between accounts (used by the operators and by the attacker).
    xr = rng.choice(names.CROSS_ROLE_NAMES)
    org.cross_roles = {
        "backups-operator": Role(xr, bk, unique_id("AROA", seed, xr, bk)),
        "backups-restore": Role(rng.choice(names.RESTORE_ROLE_NAMES), bk,
                                unique_id("AROA", seed, "restore", bk)),
    }
    return org


def rotated(org: Org, name: str, at: int, new_key: str) -> None:
    """Record that `name`'s key changes to `new_key` at `at` (benign key rotation)."""
    for lst in (org.cron_users, org.idle_users):
        for i, u in enumerate(lst):
            if u.name == name:
                lst[i] = User(u.name, u.account, u.principal_id, (*u.keys, (at, new_key)),
                              u.ips, u.user_agents)
                return
    raise KeyError(name)
