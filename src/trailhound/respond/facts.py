"""What the store knows about an incident's identities, asked once, before planning.

The incident document names keys and principals; a containment call needs more: the IAM user
that owns each key (`UpdateAccessKey` takes a user name), the role behind each session, and what
the *legitimate* side does with the same identity, because that is what a step breaks. All of
it comes from the `events` view (and, when a hunt left it, the store's per-event attribution),
so planning needs no AWS call and no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from trailhound.case import Case

# Calls that change who may read a bucket: reviewed by hand after an incident, because a
# policy or ACL the attacker opened outlives every key we deactivate.
BUCKET_ACCESS_CHANGES = (
    "PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutObjectAcl",
    "PutPublicAccessBlock", "DeletePublicAccessBlock", "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls", "PutBucketReplication", "PutAccessPointPolicy",
    "PutBucketWebsite", "PutBucketCors",
)

# User-agent fragments that name an automation platform: when the legitimate side of a stolen
# key is a pipeline, "what breaks" is deployments, and the fix is a pipeline credential.
CI_AGENTS = (
    ("exec-env/GitHubActions", "GitHub Actions"), ("GitHubActions", "GitHub Actions"),
    ("exec-env/GitLab", "GitLab CI"), ("gitlab-runner", "GitLab CI"),
    ("exec-env/Jenkins", "Jenkins"), ("Jenkins", "Jenkins"), ("CodeBuild", "AWS CodeBuild"),
    ("exec-env/CircleCI", "CircleCI"), ("azure-pipelines", "Azure Pipelines"),
)


@dataclass
class LegitUse:
    """How an identity is used outside the attacker's events (what a step would break)."""

    events: int = 0
    last_seen: datetime | None = None
    source_ips: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    top_calls: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.events > 0

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "last_seen": iso(self.last_seen),
                "source_ips": self.source_ips, "platforms": self.platforms,
                "top_calls": self.top_calls}


@dataclass
class KeyFacts:
    key: str
    kind: str  # stolen | created | session
    account: str | None
    user: str | None  # IAM user owning a long-term key
    role_arn: str | None  # role behind a session key
    created_by: str | None  # the key that created it (created keys)
    created_at: datetime | None
    legit: LegitUse

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "account": self.account,
                "user": self.user, "role_arn": self.role_arn, "created_by": self.created_by,
                "created_at": iso(self.created_at), "legitimate_use": self.legit.to_dict()}


@dataclass
class BucketChange:
    bucket: str
    account: str | None
    changes: list[str]  # event names, distinct
    events: int
    by_attacker: int
    first: datetime | None
    last: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "account": self.account, "changes": self.changes,
                "events": self.events, "by_attacker": self.by_attacker,
                "first": iso(self.first), "last": iso(self.last)}


@dataclass
class Facts:
    keys: list[KeyFacts]
    roles: dict[str, LegitUse]  # role arn -> legitimate sessions' use
    role_sessions: dict[str, list[str]]  # role arn -> attacker session keys / entities
    users_other_keys: dict[str, int]  # user arn -> keys of that user outside the incident
    user_legit: dict[str, LegitUse]  # user arn -> legitimate use of any of its keys
    bucket_changes: list[BucketChange]
    trail_prefixes: dict[str, list[str]]  # account -> where its CloudTrail was read from
    data_end: datetime | None


def iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def role_of_session_arn(arn: str) -> str | None:
    """`arn:aws:sts::1:assumed-role/R/s` -> `arn:aws:iam::1:role/R` (path unknown: `/`)."""
    if ":assumed-role/" not in arn:
        return None
    head, _, rest = arn.partition(":assumed-role/")
    return head.replace(":sts:", ":iam:") + ":role/" + rest.split("/")[0]


def account_of_arn(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def gather(conn: duckdb.DuckDBPyConnection, store_root: Path, inc: dict[str, Any]) -> Facts:
    """Everything planning needs about incident `inc` (a dict of incidents.json)."""
    _attacker_events(conn, store_root, inc)
    keys = _keys(conn, inc)
    roles: dict[str, LegitUse] = {}
    role_sessions: dict[str, list[str]] = {}
    for k in keys:
        if k.role_arn:
            role_sessions.setdefault(k.role_arn, []).append(k.key)
    for p in inc.get("principals") or []:
        r = role_of_session_arn(p)
        if r and not any(_same_role(r, x) for x in role_sessions):
            role_sessions.setdefault(r, []).append(p)
    for r in role_sessions:
        roles[r] = _role_legit(conn, r)
    user_arns = sorted({f"arn:aws:iam::{k.account}:user/{k.user}" for k in keys
                        if k.user and k.account} | {p for p in inc.get("principals") or []
                                                     if ":user/" in p})
    others = {u: _other_keys(conn, u, [k.key for k in keys]) for u in user_arns}
    user_legit = {u: _user_legit(conn, u) for u in user_arns}
    (end,) = conn.execute("SELECT max(event_time) FROM events").fetchone()
    return Facts(keys=keys, roles=roles, role_sessions=role_sessions,
                 users_other_keys=others, user_legit=user_legit,
                 bucket_changes=_bucket_changes(conn, inc), trail_prefixes=_trails(conn, inc),
                 data_end=end)


def _same_role(a: str, b: str) -> bool:
    return a.split(":")[4] == b.split(":")[4] and a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]


def _attacker_events(conn: duckdb.DuckDBPyConnection, store_root: Path,
                     inc: dict[str, Any]) -> None:
    """`inc_attacker(event_id)`: the incident's attacker-attributed events.

    A hunt keeps them in the store's Case; without one (a store from before the Case), the
    attacker's events are those of the lineage's keys from the attacker's source IPs (the
    incident's `source_ips` hold only attacker-attributed values)."""
    files = Case(Path(store_root)).files("attributed_events")
    if files:
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE inc_attacker AS SELECT DISTINCT event_id FROM "
            "read_parquet(?) WHERE incident = ? AND attribution = 'attacker'",
            [files, inc["id"]])
        (n,) = conn.execute("SELECT count(*) FROM inc_attacker").fetchone()
        if n:
            return
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE inc_attacker AS
        SELECT DISTINCT event_id FROM events
        WHERE (access_key_id IN (SELECT unnest(?::VARCHAR[]))
               OR principal_arn IN (SELECT unnest(?::VARCHAR[])))
          AND source_ip IN (SELECT unnest(?::VARCHAR[]))
    """, [_plain_keys(inc), _entity_arns(inc), inc.get("source_ips") or []])


def _plain_keys(inc: dict[str, Any]) -> list[str]:
    return [k for k in inc.get("access_keys") or [] if not k.startswith("role:")]


def _entity_arns(inc: dict[str, Any]) -> list[str]:
    """Role entities (`role:<arn>`) of correlation stand for every session of that ARN."""
    return [k[5:] for k in inc.get("access_keys") or [] if k.startswith("role:")]


def _keys(conn: duckdb.DuckDBPyConnection, inc: dict[str, Any]) -> list[KeyFacts]:
    keys = _plain_keys(inc)
    created = {r[0]: r[1:] for r in conn.execute("""
        SELECT created_access_key_id, access_key_id,
               coalesce(target_user, CASE WHEN identity_type = 'IAMUser' THEN user_name END),
               recipient_account_id, event_time
        FROM events WHERE event_name = 'CreateAccessKey' AND error_code IS NULL
          AND created_access_key_id IN (SELECT unnest(?::VARCHAR[]))
        QUALIFY row_number() OVER (PARTITION BY created_access_key_id ORDER BY event_time) = 1
    """, [keys]).fetchall()}
    owners = {r[0]: r[1:] for r in conn.execute("""
        SELECT access_key_id, any_value(user_name) FILTER (identity_type = 'IAMUser'),
               any_value(coalesce(account_id, recipient_account_id)),
               any_value(session_issuer_arn) FILTER (session_issuer_arn IS NOT NULL),
               any_value(principal_arn)
        FROM events WHERE access_key_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1
    """, [keys]).fetchall()}
    issued = {r[0]: r[1] for r in conn.execute("""
        SELECT session_access_key_id, any_value(assumed_role_arn) FROM events
        WHERE session_access_key_id IN (SELECT unnest(?::VARCHAR[])) AND error_code IS NULL
        GROUP BY 1
    """, [keys]).fetchall()}
    out: list[KeyFacts] = []
    root = inc.get("root_access_key")
    for k in sorted(keys, key=lambda k: (k != root, not k.startswith("AKIA"), k)):
        user, account, issuer, principal = owners.get(k, (None, None, None, None))
        legit = _key_legit(conn, k)
        if k in created:
            by, target, acct, at = created[k]
            out.append(KeyFacts(k, "created", acct or account, target or user, None, by, at,
                                legit))
        elif k.startswith("ASIA") or issuer or k in issued:
            role = issuer or role_of_session_arn(issued.get(k) or "") or issued.get(k) \
                or role_of_session_arn(principal or "")
            if role and ":assumed-role/" in role:
                role = role_of_session_arn(role)
            out.append(KeyFacts(k, "session", account or account_of_arn(role), None, role,
                                None, None, legit))
        else:
            if user is None and principal and ":user/" in principal:
                user = principal.rsplit("/", 1)[-1]
            out.append(KeyFacts(k, "stolen", account or account_of_arn(principal), user, None,
                                None, None, legit))
    for arn in _entity_arns(inc):
        role = role_of_session_arn(arn)
        out.append(KeyFacts("role:" + arn, "session", account_of_arn(arn), None, role, None,
                            None, _legit(conn, "principal_arn = ?", [arn])))
    return out


def _legit(conn: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> LegitUse:
    """Use matching `where` that is not the attacker's."""
    row = conn.execute(f"""
        SELECT count(*), max(event_time),
               list(DISTINCT source_ip ORDER BY source_ip),
               list(DISTINCT user_agent)
        FROM events WHERE ({where}) AND event_id NOT IN (SELECT event_id FROM inc_attacker)
    """, params).fetchone()
    n, last, ips, uas = row
    if not n:
        return LegitUse()
    calls = [f"{src.split('.')[0]}:{name}" for src, name, _ in conn.execute(f"""
        SELECT event_source, event_name, count(*) c FROM events
        WHERE ({where}) AND event_id NOT IN (SELECT event_id FROM inc_attacker)
          AND NOT coalesce(read_only, false)
        GROUP BY 1, 2 ORDER BY c DESC, 2 LIMIT 5
    """, params).fetchall()]
    platforms: list[str] = []
    for ua in uas or []:
        for frag, name in CI_AGENTS:
            if ua and frag in ua and name not in platforms:
                platforms.append(name)
                break
    return LegitUse(int(n), last, [ip for ip in ips or [] if ip][:8], platforms, calls)


def _key_legit(conn: duckdb.DuckDBPyConnection, key: str) -> LegitUse:
    return _legit(conn, "access_key_id = ?", [key])


def _role_legit(conn: duckdb.DuckDBPyConnection, role_arn: str) -> LegitUse:
    name = role_arn.rsplit("/", 1)[-1]
    acct = account_of_arn(role_arn) or ""
    return _legit(conn, "(session_issuer_arn = ? OR principal_arn LIKE ?)",
                  [role_arn, f"arn:aws:sts::{acct}:assumed-role/{name}/%"])


def _user_legit(conn: duckdb.DuckDBPyConnection, user_arn: str) -> LegitUse:
    return _legit(conn, "principal_arn = ?", [user_arn])


def _other_keys(conn: duckdb.DuckDBPyConnection, user_arn: str, incident_keys: list[str]) -> int:
    """How many keys of the user the attacker never touched (counted, never named)."""
    (n,) = conn.execute("""
        SELECT count(DISTINCT access_key_id) FROM events
        WHERE principal_arn = ? AND access_key_id LIKE 'AKIA%'
          AND access_key_id NOT IN (SELECT unnest(?::VARCHAR[]))
    """, [user_arn, incident_keys]).fetchone()
    return int(n)


def _bucket_changes(conn: duckdb.DuckDBPyConnection, inc: dict[str, Any]) -> list[BucketChange]:
    """Bucket access changes from the incident's first attacker event to the end of the data,
    by anyone: the attacker may have used a key we do not know."""
    first = inc.get("first_seen")
    if not first:
        return []
    rows = conn.execute("""
        SELECT bucket, any_value(recipient_account_id), list(DISTINCT event_name ORDER BY
               event_name), count(*),
               count(*) FILTER (event_id IN (SELECT event_id FROM inc_attacker)),
               min(event_time), max(event_time)
        FROM events
        WHERE event_name IN (SELECT unnest(?::VARCHAR[])) AND error_code IS NULL
          AND bucket IS NOT NULL AND event_time >= ?::TIMESTAMP
        GROUP BY bucket ORDER BY 5 DESC, bucket
    """, [list(BUCKET_ACCESS_CHANGES), first.rstrip("Z")]).fetchall()
    return [BucketChange(b, a, list(names), int(n), int(att), f, last)
            for b, a, names, n, att, f, last in rows]


def _trails(conn: duckdb.DuckDBPyConnection, inc: dict[str, Any]) -> dict[str, list[str]]:
    """Where each incident account's CloudTrail came from (the copy to preserve)."""
    rows = conn.execute("""
        SELECT account, list(DISTINCT regexp_extract(source_object, '^(.*?/CloudTrail/)')
                             ORDER BY 1)
        FROM events WHERE account IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1
    """, [inc.get("accounts") or []]).fetchall()
    return {a: [p for p in prefixes if p] for a, prefixes in rows}
