"""Word lists and generators for names, user agents and regions.

Kept apart from the organisation's logic so the lists can grow without touching behaviour.
Every choice is made through a seeded generator passed in by the caller.
"""

from __future__ import annotations

import random

HOME_REGIONS = ["eu-west-1", "eu-central-1", "eu-west-3", "eu-north-1", "eu-south-1",
                "eu-west-2"]
ALL_REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2",
]

PLATFORM_WORDS = ["webhost", "hostsvc", "sitefarm", "pubweb", "webplat", "hosting", "cmsplat",
                  "wwwcloud", "portalhost", "sitehub"]

_TENANT_A = ["agri", "fish", "mobility", "energy", "health", "justice", "trade", "climate",
             "research", "education", "culture", "budget", "digital", "regio", "home",
             "growth", "competition", "environment", "maritime", "neighbourhood", "taxud",
             "statistics", "translation", "interpretation", "audit", "ombud", "food-safety",
             "chemicals", "aviation", "rail", "border", "asylum", "medicines", "disease",
             "cyber", "space", "defence", "labour", "satcen", "police", "eurojust", "training",
             "fundamental-rights", "gender", "drugs", "network", "banking", "insurance",
             "securities", "innovation", "schools", "archives", "library", "press"]
_TENANT_B = ["agency", "directorate", "office", "authority", "centre", "board", "unit",
             "service", "observatory", "institute", "council", "network", "foundation",
             "secretariat", "programme"]

_FIRST = ["anna", "bram", "carla", "dario", "eva", "filip", "greta", "hugo", "ines", "jonas",
          "katja", "luca", "marta", "nils", "olga", "pieter", "quentin", "rosa", "sven", "tereza",
          "ugo", "vera", "wim", "xenia", "yusuf", "zofia", "aoife", "bjorn", "chiara", "dimitri",
          "elena", "fabio", "gosia", "henrik", "ilse", "jakub", "kaisa", "lars", "mireille",
          "niamh", "oskar", "paula", "radu", "sanne", "tomas", "ulla", "vlad", "marek"]
_LAST = ["novak", "jansen", "rossi", "dubois", "schmidt", "kowalski", "horvat", "silva",
         "nielsen", "papadopoulos", "murphy", "virtanen", "berg", "costa", "lambert", "meyer",
         "popescu", "varga", "kask", "ozols", "petrov", "garcia", "bianchi", "peeters", "weber",
         "lindqvist", "martin", "moreau", "fischer", "brennan", "santos", "vos", "keller"]

CI_USER_NAMES = ["ci-deploy", "gha-deployer", "build-bot", "cicd-pipeline", "deploy-ci",
                 "pipeline-runner", "ci-release", "github-actions-deploy", "svc-cicd",
                 "buildkite-deploy"]
CRON_USER_NAMES = ["report-exporter", "cert-renewer", "mail-archiver", "dns-sync",
                   "stats-aggregator", "sitemap-builder", "cache-warmer", "invoice-export",
                   "search-indexer", "uptime-reporter", "log-rotator"]
IDLE_USER_NAMES = ["web-admin", "legacy-ftp-sync", "mail-relay", "deploy-legacy",
                   "partner-upload", "cms-migration", "monitoring-ro", "ops-breakglass",
                   "analytics-export", "sftp-gateway"]
WEB_ROLE_NAMES = ["web-frontend-instance-role", "webtier-ec2-role", "www-node-role",
                  "hosting-web-role", "cms-web-ec2"]
BACKUP_ROLE_NAMES = ["backup-agent-role", "nightly-backup-ec2", "bkp-runner-role",
                     "tenant-backup-role"]
SCANNER_ROLE_NAMES = ["security-scanner", "cspm-scanner-role", "posture-audit-runner",
                      "secops-scanner"]
AUDIT_ROLE_NAMES = ["SecurityAuditReadOnly", "security-audit-xacct", "CSPMReadOnlyAccess",
                    "OrgSecurityAudit"]
CROSS_ROLE_NAMES = ["backups-operator", "xacct-backup-admin", "backup-operations",
                    "OpsCrossAccountBackup"]
RESTORE_ROLE_NAMES = ["backup-restore", "restore-operator", "bkp-restore-role",
                      "RestoreAdmin"]
SCANNER_TAGS = ["prowler/4.2.1", "scoutsuite/5.14.0", "cloudsploit/3.4", "steampipe/0.23.2",
                "cloudquery/5.9.0"]

_DIR_WORDS = ["assets", "img", "static", "uploads", "media", "css", "js", "files", "docs",
              "news", "press", "reports", "minutes", "forms", "archive", "publications"]
_EXT = ["jpg", "png", "pdf", "html", "css", "js", "svg", "webp", "docx", "json", "xml"]


def slug(s: str) -> str:
    return s.lower().replace(" ", "-").replace("_", "-")


def tenants(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        t = f"{rng.choice(_TENANT_A)}-{rng.choice(_TENANT_B)}"
        if rng.random() < 0.3:
            t = rng.choice(["eu", "ec", "ep", "cor"]) + "-" + t
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def bucket_name(rng: random.Random, tslug: str, kind: str, suffix: str) -> str:
    style = rng.randrange(4)
    core = tslug[:36]
    if style == 0:
        return f"{core}-{kind}-{suffix}"
    if style == 1:
        return f"{kind}-{core}-{suffix}"
    if style == 2:
        return f"{core}-{kind}-prod"[:63] if kind != "web" else f"{core}-www-{suffix}"
    return f"tenant-{core}-{kind}"[:63]


def people(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        f, last = rng.choice(_FIRST), rng.choice(_LAST)
        login = rng.choice([f"{f}.{last}", f"{f[0]}{last}", f"{f}.{last}@example.eu"])
        if login not in out:
            out.append(login)
    return out


def _py(rng: random.Random) -> str:
    return f"3.{rng.choice([9, 10, 11, 12])}.{rng.randint(1, 14)}"


def boto3_ua(rng: random.Random, extra: str | None = None) -> str:
    v = f"1.{rng.randint(28, 35)}.{rng.randint(0, 80)}"
    bv = f"1.{rng.randint(31, 35)}.{rng.randint(0, 80)}"
    kern = rng.choice(["5.10.219-208.866.amzn2.x86_64", "6.1.90-99.173.amzn2023.x86_64",
                       "5.15.0-1061-aws", "6.8.0-1012-aws"])
    ua = (f"Boto3/{v} md/Botocore#{bv} ua/2.0 os/linux#{kern} md/arch#x86_64 "
          f"lang/python#{_py(rng)} md/pyimpl#CPython cfg/retry-mode#legacy Botocore/{bv}")
    return f"{ua} {extra}" if extra else ua


def cli_ua(rng: random.Random) -> str:
    v = f"2.{rng.randint(13, 17)}.{rng.randint(0, 60)}"
    plat = rng.choice([
        f"Darwin/{rng.randint(22, 24)}.{rng.randint(0, 6)}.0 exe/{rng.choice(['x86_64', 'arm64'])}",
        f"Linux/6.{rng.randint(2, 9)}.0-{rng.randint(10, 60)}-generic exe/x86_64.ubuntu.22",
        "Windows/10 exe/AMD64",
    ])
    return f"aws-cli/{v} md/awscrt#0.19.19 ua/2.0 os/{plat.split(' ')[0].lower()} " \
           f"md/arch#x86_64 lang/python#{_py(rng)} md/pyimpl#CPython cfg/retry-mode#standard " \
           f"md/installer#exe md/prompt#off"


def browser_ua(rng: random.Random) -> str:
    c = rng.randint(120, 131)
    return rng.choice([
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{c}.0.0.0 Safari/537.36",
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
        f"Gecko) Chrome/{c}.0.0.0 Safari/537.36",
        f"Mozilla/5.0 (X11; Linux x86_64; rv:{c - 5}.0) Gecko/20100101 Firefox/{c - 5}.0",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{c - 4}.0) Gecko/20100101 "
        f"Firefox/{c - 4}.0",
    ])


def sdk_ua(rng: random.Random) -> str:
    return rng.choice([
        f"aws-sdk-php/3.{rng.randint(280, 320)}.{rng.randint(0, 9)} ua/2.0 "
        f"OS/Linux#5.15.0 lang/php#8.{rng.randint(1, 3)}.{rng.randint(1, 20)} GuzzleHttp/7",
        f"aws-sdk-go-v2/1.{rng.randint(24, 30)}.{rng.randint(0, 9)} os/linux lang/go#1.22.4 "
        f"md/GOOS#linux md/GOARCH#amd64 api/s3#1.{rng.randint(50, 60)}.0",
        f"aws-sdk-java/2.{rng.randint(20, 26)}.{rng.randint(0, 40)} Linux/5.10 "
        f"OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 vendor/Amazon.com_Inc. io/sync "
        f"http/Apache cfg/retry-mode/legacy",
    ])


def backup_ua(rng: random.Random) -> str:
    return rng.choice([
        f"rclone/v1.{rng.randint(64, 68)}.{rng.randint(0, 2)}",
        f"restic/0.{rng.randint(15, 17)}.{rng.randint(0, 2)} (linux/amd64; go1.22.4)",
        cli_ua(rng) + " command/s3.sync",
    ])


def ci_user_agents(rng: random.Random) -> tuple[str, ...]:
    """What a GitHub Actions style pipeline sends: the CLI and the JS SDK of the
    configure-credentials action, both tagged with the execution environment."""
    kern = f"6.{rng.randint(2, 8)}.0-{rng.randint(1010, 1030)}-azure"
    cliv = f"2.{rng.randint(13, 17)}.{rng.randint(0, 60)}"
    jsv = f"3.{rng.randint(480, 620)}.0"
    cli = (f"aws-cli/{cliv} md/awscrt#0.19.19 ua/2.0 os/linux#{kern} md/arch#x86_64 "
           f"lang/python#{_py(rng)} md/pyimpl#CPython exec-env/GitHubActions "
           f"cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off")
    js = (f"aws-sdk-js/{jsv} ua/2.0 os/linux#{kern} lang/js md/nodejs#20.{rng.randint(10, 17)}.0 "
          f"api/sts#{jsv} exec-env/GitHubActions")
    py = boto3_ua(rng, extra="exec-env/GitHubActions")
    return (cli, js, py)


# Attacker tooling: what stolen-key tooling tends to send. TruffleHog's verifier identifies
# itself; everything else is generic SDK or CLI traffic from rented machines.
def trufflehog_ua(rng: random.Random) -> str:
    return rng.choice(["TruffleHog", f"trufflehog/3.{rng.randint(60, 88)}.{rng.randint(0, 9)}",
                       f"TruffleHog/3.{rng.randint(60, 88)}.{rng.randint(0, 9)} (linux/amd64)"])


def attacker_uas(rng: random.Random) -> tuple[str, str]:
    """Two agents: one for the first machine, another for the infrastructure used later."""
    pool = [
        boto3_ua(rng),
        cli_ua(rng),
        f"aws-sdk-go/1.{rng.randint(44, 55)}.{rng.randint(0, 40)} (go1.21.{rng.randint(1, 9)}; "
        f"linux; amd64)",
        f"Boto3/1.{rng.randint(26, 34)}.{rng.randint(0, 40)} Python/3.{rng.randint(8, 12)}."
        f"{rng.randint(0, 9)} Linux/5.15.0-{rng.randint(80, 110)}-generic "
        f"Botocore/1.{rng.randint(29, 34)}.{rng.randint(0, 40)}",
        f"aws-cli/1.{rng.randint(29, 33)}.{rng.randint(0, 40)} Python/3.{rng.randint(8, 11)}."
        f"{rng.randint(0, 9)} Linux/5.4.0 botocore/1.{rng.randint(31, 34)}.{rng.randint(0, 40)}",
    ]
    a, b = rng.sample(pool, 2)
    return a, b


_MAIL_DIRS = ["inbox", "outbound", "sent", "archive"]
_DB_APPS = ["wordpress", "drupal", "crm", "portal", "forms"]
_DOC_DIRS = ["internal", "shared", "hr", "legal", "finance"]
_DOC_EXT = ["pdf", "docx", "xlsx"]
_BK_KIND = ["web", "db", "mail"]
_ART = ["portal", "cms", "api"]


def object_key_from(v: int, kind: str, i: int) -> str:
    """An object key for object `i` of a bucket of `kind`, from the 128-bit value `v`: the
    choices are read off different bits so keys look varied but cost one hash."""
    a, b, c = v >> 64, (v >> 72) & 0xFFFF, (v >> 88) & 0xFFFF
    if kind == "mail":
        return (f"mail/{_MAIL_DIRS[b % 4]}/2026/{1 + c % 3:02d}/{a & 0xFFFFFFFFFFFF:012x}"
                f"{i:x}.eml")
    if kind == "db":
        return f"dumps/{_DB_APPS[b % 5]}/{('daily', 'weekly')[c % 2]}-{i:05d}.sql.gz"
    if kind == "docs":
        return (f"{_DOC_DIRS[b % 5]}/{_DIR_WORDS[c % len(_DIR_WORDS)]}/doc-{i:05d}."
                f"{_DOC_EXT[(b >> 4) % 3]}")
    if kind == "backup":
        return f"snapshots/{_BK_KIND[b % 3]}/part-{i:06d}.tar.zst"
    if kind == "artifacts":
        return f"releases/{_ART[b % 3]}/build-{i:05d}.zip"
    return (f"{_DIR_WORDS[b % len(_DIR_WORDS)]}/{_DIR_WORDS[c % len(_DIR_WORDS)]}/"
            f"{a & 0xFFFFFFFFFF:010x}{i:x}.{_EXT[(b >> 5) % len(_EXT)]}")
