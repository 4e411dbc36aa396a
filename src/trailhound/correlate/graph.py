"""The credential graph: every credential CloudTrail shows being minted, and by what.

Nodes are credentials: long-term keys (AKIA...), session keys (ASIA...) and, where no key
exists, a console sign-in (`console:<event id>`). Edges are the mints CloudTrail records:

- `CreateAccessKey`: the caller's key -> the key in the response (for any user);
- `AssumeRole*`, `GetSessionToken`, `GetFederationToken`: the caller -> the session key in the
  response, role chaining included. A cross-account AssumeRole is logged twice, in the caller's
  account (with the caller's key) and in the role's (the caller as an `AWSAccount`, no key);
  both name the same session key, so the edge takes its parent from the record that has one;
- a console sign-in: `GetSigninToken` by a federated or role session -> the `ConsoleLogin` of
  that principal just after it -> the console session keys of that principal, first used from
  the sign-in's address within the session's life.

The edges of every successful mint are one temporary table (`mints`); console sign-ins are
followed only from credentials already in the attacker's hands (they are rare and costly to
join). Nothing here decides who is the attacker: `attribute` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from trailhound.correlate.fingerprint import client_sql, network_sql

# Whose history a credential's use is compared with. A long-term key is its own owner; a role
# session's owner is the role (its sessions come and go every hour), except a person's SSO
# role, shared by everyone given it, whose sessions are profiled per person; a user's session
# (GetSessionToken, console) and a federated user are their principal.
OWNER_SQL = """CASE WHEN {p}access_key_id LIKE 'AKIA%' THEN {p}access_key_id
    WHEN {p}identity_type = 'AssumedRole' AND {p}session_issuer_arn IS NOT NULL
         AND {p}session_issuer_arn <> ''
         AND NOT contains({p}session_issuer_arn, '/AWSReservedSSO_')
        THEN {p}session_issuer_arn
    WHEN {p}principal_arn IS NOT NULL AND {p}principal_arn <> '' THEN {p}principal_arn
    END"""

# The credential an event was made with; a console sign-in has no key of its own.
CRED_SQL = """coalesce(nullif({p}access_key_id, ''),
    CASE WHEN {p}event_name = 'ConsoleLogin' AND {p}event_source = 'signin.amazonaws.com'
         THEN 'console:' || {p}event_id END)"""

# Mints of a credential *for another identity*: what a thief does to keep access.
FOREIGN_MINT_EVENTS = ("CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile",
                       "CreateServiceSpecificCredential")
# A call's target user is the caller itself (a user's own key housekeeping): no userName
# parameter, or their own. Compared as a suffix: `_` is a LIKE wildcard and legal in names.
OWN_TARGET_SQL = """({p}target_user IS NULL OR {p}target_user = ''
    OR right({p}principal_arn, length({p}target_user) + 1) = '/' || {p}target_user)"""


def owner_sql(alias: str = "") -> str:
    return OWNER_SQL.format(p=f"{alias}." if alias else "")


def cred_sql(alias: str = "") -> str:
    return CRED_SQL.format(p=f"{alias}." if alias else "")


def own_target_sql(alias: str = "") -> str:
    return OWN_TARGET_SQL.format(p=f"{alias}." if alias else "")


@dataclass(frozen=True)
class Mint:
    """One edge: `parent` (a credential, or None for AWS services and identity providers)
    minted `child` with the call `event_id`."""

    child: str
    parent: str | None
    parent_owner: str | None
    # CreateAccessKey | AssumeRole... | GetSessionToken | GetFederationToken | ConsoleLogin
    kind: str
    event_id: str
    time: datetime
    network: str | None
    client: str | None
    target: str | None  # the user a key was made for, the role or federated user assumed
    account: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"child": self.child, "parent": self.parent, "kind": self.kind,
                "event_id": self.event_id, "time": self.time, "target": self.target}


def mints_sql() -> str:
    """One row per credential minted by a successful call (its first record that names the
    caller's key: a cross-account call's twin in the role's account names none)."""
    return f"""
        SELECT coalesce(created_access_key_id, session_access_key_id) AS child,
               nullif(access_key_id, '') AS parent, {owner_sql()} AS parent_owner,
               CASE WHEN created_access_key_id IS NOT NULL THEN 'CreateAccessKey'
                    ELSE event_name END AS kind,
               event_id, event_time, {network_sql()} AS net, {client_sql()} AS cli,
               CASE WHEN created_access_key_id IS NOT NULL
                    THEN coalesce(target_user, user_name) ELSE assumed_role_arn END AS target,
               coalesce(account_id, account) AS account, principal_arn, source_ip,
               target_user, assumed_role_arn
        FROM events
        WHERE error_code IS NULL
          AND coalesce(created_access_key_id, session_access_key_id) IS NOT NULL
          AND coalesce(created_access_key_id, session_access_key_id) <> ''
        QUALIFY row_number() OVER (
            PARTITION BY coalesce(created_access_key_id, session_access_key_id)
            ORDER BY access_key_id IS NULL OR access_key_id = '', event_time, event_id) = 1"""


def build_mints(conn: duckdb.DuckDBPyConnection) -> None:
    """`mints`: the credential graph's edges (see `mints_sql`)."""
    conn.execute(f"CREATE OR REPLACE TEMP TABLE mints AS {mints_sql()}")


_MINT_COLS = ("child, parent, parent_owner, kind, event_id, event_time, net, cli, target, "
              "account")


def _rows_to_mints(rows: list[tuple[Any, ...]]) -> list[Mint]:
    return [Mint(c, p, po, k, e, t, n, cl, tg, a) for c, p, po, k, e, t, n, cl, tg, a in rows]


def _mints_where(conn: duckdb.DuckDBPyConnection, column: str, values: set[str]
                 ) -> list[Mint]:
    """Mints whose `column` (child, parent or event_id: a fixed name) is one of `values`."""
    assert column in ("child", "parent", "event_id")
    if not values:
        return []
    conn.register("graph_q", pa.table({"v": pa.array(sorted(values), pa.string())}))
    try:
        rows = conn.execute(f"SELECT {_MINT_COLS} FROM mints WHERE {column} IN "
                            "(SELECT v FROM graph_q) ORDER BY event_time, event_id").fetchall()
    finally:
        conn.unregister("graph_q")
    return _rows_to_mints(rows)


def mints_of_children(conn: duckdb.DuckDBPyConnection, children: set[str]) -> dict[str, Mint]:
    """child -> how it was minted, for the children that CloudTrail shows being minted."""
    return {m.child: m for m in _mints_where(conn, "child", children)}


def mints_by_events(conn: duckdb.DuckDBPyConnection, event_ids: list[str]) -> list[Mint]:
    """The mints made by these calls."""
    return _mints_where(conn, "event_id", set(event_ids))


def mints_by_parents(conn: duckdb.DuckDBPyConnection, parents: set[str]) -> list[Mint]:
    """Every mint made with these credentials (all of a credential's use is the attacker's)."""
    return _mints_where(conn, "parent", parents)


def console_children(conn: duckdb.DuckDBPyConnection, creds: set[str], hours: float
                     ) -> list[Mint]:
    """Console sign-ins made with, or being, these credentials, and their session keys.

    A federated or role session `K` calling `GetSigninToken` mints a console sign-in of its
    principal (the `ConsoleLogin` just after it); a sign-in (`console:<event id>`) mints the
    session keys its principal then uses from the sign-in's address."""
    if not creds:
        return []
    out: list[Mint] = []
    conn.register("graph_q", pa.table({"k": pa.array(sorted(creds), pa.string())}))
    try:
        rows = conn.execute(f"""
            WITH tok AS (
                SELECT access_key_id AS parent, principal_arn, event_time AS t, event_id
                FROM events WHERE event_name = 'GetSigninToken' AND error_code IS NULL
                  AND access_key_id IN (SELECT k FROM graph_q))
            SELECT 'console:' || l.event_id, tok.parent, 'ConsoleLogin', l.event_id,
                   l.event_time, {network_sql('l.source_ip')}, {client_sql('l.user_agent')},
                   l.principal_arn, l.account
            FROM tok JOIN events l ON l.principal_arn = tok.principal_arn
            WHERE l.event_name = 'ConsoleLogin' AND l.error_code IS NULL
              AND l.event_time >= tok.t AND l.event_time <= tok.t + INTERVAL 15 MINUTE
        """).fetchall()
        for child, parent, kind, eid, t, net, cli, target, acct in rows:
            out.append(Mint(child, parent, parent, kind, eid, t, net, cli, target, acct))
        logins = sorted({c for c in creds if c.startswith("console:")}
                        | {m.child for m in out})
        if logins:
            conn.register("graph_l", pa.table({
                "e": pa.array([c.split(":", 1)[1] for c in logins], pa.string())}))
            try:
                rows = conn.execute(f"""
                    WITH l AS (
                        SELECT event_id, principal_arn, source_ip, event_time AS t
                        FROM events WHERE event_id IN (SELECT e FROM graph_l)),
                    k AS (
                        SELECT access_key_id, principal_arn, min(event_time) AS first,
                               arg_min(source_ip, event_time) AS ip,
                               arg_min(event_id, event_time) AS eid,
                               arg_min(user_agent, event_time) AS ua, any_value(account) AS acct
                        FROM events WHERE principal_arn IN (SELECT principal_arn FROM l)
                          AND access_key_id IS NOT NULL AND access_key_id <> ''
                        GROUP BY access_key_id, principal_arn)
                    SELECT k.access_key_id, 'console:' || l.event_id, k.eid, k.first,
                           {network_sql('k.ip')}, {client_sql('k.ua')}, k.principal_arn,
                           k.acct
                    FROM l JOIN k ON k.principal_arn = l.principal_arn AND k.ip = l.source_ip
                    WHERE k.first >= l.t AND k.first <= l.t + INTERVAL {int(hours)} HOUR
                """).fetchall()
            finally:
                conn.unregister("graph_l")
            for child, parent, eid, t, net, cli, target, acct in rows:
                out.append(Mint(child, parent, None, "ConsoleLogin", eid, t, net, cli, target,
                                acct))
    finally:
        conn.unregister("graph_q")
    return out


# Calls that run code on, or log into, an instance: its role's credentials are then the
# caller's to take (Stratus "ec2-steal-instance-credentials", SSM to a shell, EC2 Instance
# Connect, the serial console).
HOST_ACCESS_EVENTS = ("SendCommand", "StartSession", "SendSSHPublicKey",
                      "SendSerialConsoleSSHPublicKey")
_INSTANCE_ID = re.compile(r"\bi-[0-9a-fA-F]{8,17}\b")


def host_children(conn: duckdb.DuckDBPyConnection, event_ids: list[str]) -> list[Mint]:
    """Session keys of instances these calls reached into, used afterwards from the caller's
    own address: the instance's credentials in the caller's hands."""
    if not event_ids:
        return []
    names = ", ".join(f"'{n}'" for n in HOST_ACCESS_EVENTS)
    conn.register("graph_q", pa.table({"e": pa.array(sorted(set(event_ids)), pa.string())}))
    try:
        calls = conn.execute(f"""
            SELECT event_id, event_time, access_key_id, source_ip, request_parameters,
                   event_name, coalesce(account_id, account)
            FROM events WHERE event_id IN (SELECT e FROM graph_q) AND error_code IS NULL
              AND event_name IN ({names}) AND source_ip IS NOT NULL""").fetchall()
    finally:
        conn.unregister("graph_q")
    cols: dict[str, list[Any]] = {k: [] for k in ("suffix", "t", "ip", "parent", "eid", "kind")}
    for eid, t, parent, ip, params, name, _acct in calls:
        for iid in sorted(set(_INSTANCE_ID.findall(params or ""))):
            cols["suffix"].append("/" + iid)
            cols["t"].append(t)
            cols["ip"].append(ip)
            cols["parent"].append(parent)
            cols["eid"].append(eid)
            cols["kind"].append(name)
    if not cols["suffix"]:
        return []
    conn.register("graph_h", pa.table({
        "suffix": pa.array(cols["suffix"], pa.string()), "t": pa.array(cols["t"],
                                                                       pa.timestamp("us")),
        "ip": pa.array(cols["ip"], pa.string()), "parent": pa.array(cols["parent"], pa.string()),
        "eid": pa.array(cols["eid"], pa.string()), "kind": pa.array(cols["kind"],
                                                                     pa.string())}))
    try:
        rows = conn.execute(f"""
            SELECT e.access_key_id, min(h.parent), min(h.kind), min(h.eid), min(e.event_time),
                   min({network_sql('e.source_ip')}), min({client_sql('e.user_agent')}),
                   min(e.principal_arn), min(coalesce(e.account_id, e.account))
            FROM events e JOIN graph_h h
              ON ends_with(e.principal_arn, h.suffix) AND e.source_ip = h.ip
             AND e.event_time >= h.t
            WHERE e.access_key_id IS NOT NULL AND e.access_key_id <> ''
              AND e.access_key_id <> h.parent
            GROUP BY e.access_key_id""").fetchall()
    finally:
        conn.unregister("graph_h")
    return [Mint(child, parent, parent, kind, eid, t, net, cli, target, acct)
            for child, parent, kind, eid, t, net, cli, target, acct in rows]


def retirements(conn: duckdb.DuckDBPyConnection, users: set[str], since: datetime,
                days: float) -> dict[str, list[tuple[str, datetime]]]:
    """user -> [(key id, when)] for keys of these users deactivated or deleted in
    [since, since + days]: the second half of a rotation."""
    if not users:
        return {}
    rows = conn.execute("""
            SELECT coalesce(nullif(target_user, ''),
                            regexp_extract(principal_arn, '/([^/]+)$', 1)) AS u,
                   json_extract_string(request_parameters, '$.accessKeyId'), event_time
            FROM events
            WHERE event_name IN ('UpdateAccessKey', 'DeleteAccessKey') AND error_code IS NULL
              AND (event_name = 'DeleteAccessKey'
                   OR json_extract_string(request_parameters, '$.status') = 'Inactive')
              AND event_time >= ? AND event_time <= ?
    """, [since, since + timedelta(days=days)]).fetchall()
    out: dict[str, list[tuple[str, datetime]]] = {}
    for u, key, t in rows:
        if u in users and key:
            out.setdefault(u, []).append((key, t))
    return out
