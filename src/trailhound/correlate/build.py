"""Alerts -> incidents along key lineage.

1. Candidate keys are the keys of alerted events.
2. Each candidate's use is split by network (`profile.judge_key`): is the key compromised, and
   which of its networks are the attacker's?
3. The lineage grows from the attacker's events: a key created by an attacker-attributed
   `CreateAccessKey` (for any user), or a session obtained by an attacker-attributed
   `AssumeRole*` / `GetSessionToken` / `GetFederationToken`, belongs to the attacker whole,
   in whatever account it is then used; and so on recursively.
4. Every compromised key not reached from another one roots one incident holding its whole
   lineage. The same call logged in two accounts (same `sharedEventID`) is attributed alike.
5. Scope (buckets, objects, bytes, IPs, user agents) is computed from attacker-attributed
   events only; `shared` events are evidence, never scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from trailhound.correlate.incident import (
    Bucket,
    Incident,
    actions_of,
    incident_id,
    order_stages,
    severity_of,
    title_of,
)
from trailhound.correlate.netinfo import VALIDATOR_FAMILIES, network_sql, ua_family_sql
from trailhound.correlate.profile import (
    SEVERITY_RANK,
    STRONG_STAGES,
    KeyVerdict,
    NetUse,
    established_networks,
    judge_key,
    key_network_usage,
    mark_org_networks,
)
from trailhound.correlate.stages import stage_case_sql, technique_case_sql
from trailhound.rules.alert_ids import StoredIds

MAX_LINEAGE_DEPTH = 12
_LOOK_ONLY = frozenset({"credential-validation", "discovery"})
VALIDATION_ONLY_MAX_EVENTS = 10

# What incidents, evidence and reports read of an attributed event (not `raw`: reading every
# record's JSON to attribute it would cost more than the rest of correlation).
ATT_EVENT_COLUMNS = ", ".join((
    "event_id", "event_time", "event_source", "event_name", "read_only", "aws_region",
    "account", "account_id", "source_ip", "user_agent", "error_code", "identity_type",
    "principal_arn", "access_key_id", "user_name", "target_user", "created_access_key_id",
    "assumed_role_arn", "session_access_key_id", "bucket", "object_key", "bytes_out",
    "shared_event_id", "resources", "request_parameters"))

# Stage of an event in context: a role assumed in another account is lateral movement, in
# the same account privilege escalation; everything else comes from the taxonomy.
_STAGE_SQL = f"""CASE
    WHEN event_name LIKE 'AssumeRole%' AND assumed_role_arn IS NOT NULL
         AND split_part(assumed_role_arn, ':', 5) <> coalesce(account_id, account)
        THEN 'lateral-movement'
    WHEN event_name LIKE 'AssumeRole%' THEN 'privilege-escalation'
    WHEN event_name IN ('GetSessionToken', 'GetFederationToken') THEN 'persistence'
    ELSE {stage_case_sql()} END"""


@dataclass
class Correlation:
    incidents: list[Incident]
    alert_incident: dict[int, str]  # index in the alert list -> incident id
    verdicts: dict[str, KeyVerdict] = field(default_factory=dict)


def correlate(conn: duckdb.DuckDBPyConnection, alerts: Sequence[Any], *,
              tenants: dict[str, str] | None = None) -> Correlation:
    """`conn` has the `events` view; `alerts` are `rules.Alert`s (or anything with the same
    fields). Returns incidents ordered by severity then first activity."""
    tenants = tenants or {}
    _register_alerts(conn, alerts)
    # Entities worth judging: a long-term key, or for session keys the role (or user) behind
    # them, since a one-hour session has no history of its own to compare with. Low alerts
    # alone never make an entity compromised, so they do not make it a candidate either.
    cand = conn.execute(f"""
        SELECT DISTINCT {_ENTITY_SQL} FROM events e JOIN alert_events a USING (event_id)
        WHERE e.access_key_id IS NOT NULL AND e.access_key_id <> ''
          AND (a.rank >= 2 OR {ua_family_sql('e.user_agent')} IN (SELECT unnest(?)))
    """, [sorted(VALIDATOR_FAMILIES)]).fetchall()
    keys = {k for (k,) in cand if k}
    conn.execute("CREATE OR REPLACE TEMP TABLE kev AS " + _kev_sql() + " WHERE false")
    _load_entity_events(conn, keys)

    verdicts: dict[str, KeyVerdict] = {}
    usage = _usage(conn)
    _add_session_actions(conn, usage)
    for k in sorted(keys):
        verdicts[k] = judge_key(k, usage.get(k, {}))
    _discount_legitimate_creations(conn, verdicts, usage)

    parent: dict[str, str] = {}
    created: dict[str, tuple[str, str | None]] = {}
    frontier = {k for k, v in verdicts.items() if v.compromised}
    for _ in range(MAX_LINEAGE_DEPTH):
        if not frontier:
            break
        children = _attacker_children(conn, verdicts, frontier)
        new: set[str] = set()
        for child, par, kind, user in children:
            if child in parent or child == par:
                continue
            if child in verdicts and verdicts[child].compromised and child not in parent:
                # Already compromised on its own evidence: now known to descend from `par`.
                parent[child] = par
                if kind == "created":
                    created[child] = (par, user)
                continue
            parent[child] = par
            if kind == "created":
                created[child] = (par, user)
            new.add(child)
        if not new:
            break
        _load_key_events(conn, new)
        usage = _usage(conn)
        for k in new:
            verdicts[k] = judge_key(k, usage.get(k, {}), forced_attacker=True)
        frontier = new

    _climb(conn, verdicts, parent, created)

    compromised = {k for k, v in verdicts.items() if v.compromised}
    roots = sorted(k for k in compromised if _root_of(k, parent) == k)
    members: dict[str, list[str]] = {r: [] for r in roots}
    for k in sorted(compromised):
        r = _root_of(k, parent)
        if r in members:
            members[r].append(k)

    _register_attribution(conn, verdicts, members)
    incidents = [_build_incident(conn, root, members[root], verdicts, created, tenants)
                 for root in roots]
    incidents = [i for i in incidents if i.attacker_events > 0]
    incidents.sort(key=lambda i: (-SEVERITY_RANK[i.severity], i.first_seen or 0, i.id))
    alert_incident = _link_alerts(conn, alerts)
    return Correlation(incidents, alert_incident, verdicts)


def _register_alerts(conn: duckdb.DuckDBPyConnection, alerts: Sequence[Any]) -> None:
    """`alert_events`: one row per (alert, event). Ids that `detect` left in the engine
    (`StoredIds`) are joined there, never read into Python: at ten million events they are
    millions of strings. Tuple ids (the watch, CI-key alerts) are loaded from Arrow."""
    stored: dict[str, list[tuple[int, int, str, int, str | None]]] = {}
    relations: dict[int, str | None] = {}
    ids: list[str] = []
    rule_ids: list[str] = []
    idx: list[int] = []
    rank: list[int] = []
    stage: list[str | None] = []
    for n, a in enumerate(alerts):
        r = SEVERITY_RANK.get(a.severity, 1)
        if isinstance(a.event_ids, StoredIds):
            table = a.event_ids.table
            if id(table) not in relations:
                relations[id(table)] = table.relation_on(conn)
            if (rel := relations[id(table)]) is not None:
                stored.setdefault(rel, []).append((a.event_ids.alert_no, n, a.rule_id, r,
                                                   a.stage))
                continue
        for eid in a.event_ids:
            ids.append(eid)
            rule_ids.append(a.rule_id)
            idx.append(n)
            rank.append(r)
            stage.append(a.stage)
    conn.register("alert_events_arrow", pa.table({
        "event_id": pa.array(ids, pa.string()), "alert_index": pa.array(idx, pa.int64()),
        "rule_id": pa.array(rule_ids, pa.string()), "rank": pa.array(rank, pa.int64()),
        "stage": pa.array(stage, pa.string()),
        "validator": pa.array([False] * len(ids), pa.bool_()),
    }))
    conn.execute("CREATE OR REPLACE TEMP TABLE cand_keys (k VARCHAR)")
    conn.execute("CREATE OR REPLACE TEMP TABLE alert_events_listed AS "
                 "SELECT * FROM alert_events_arrow")
    conn.unregister("alert_events_arrow")
    rows = [(t, *row) for t, (_, group) in enumerate(sorted(stored.items())) for row in group]
    conn.register("alert_map_arrow", pa.table({
        "tbl": pa.array([r[0] for r in rows], pa.int64()),
        "alert_no": pa.array([r[1] for r in rows], pa.int64()),
        "alert_index": pa.array([r[2] for r in rows], pa.int64()),
        "rule_id": pa.array([r[3] for r in rows], pa.string()),
        "rank": pa.array([r[4] for r in rows], pa.int64()),
        "stage": pa.array([r[5] for r in rows], pa.string())}))
    conn.execute("CREATE OR REPLACE TEMP TABLE alert_map AS SELECT * FROM alert_map_arrow")
    conn.unregister("alert_map_arrow")
    # A view: the (alert, event) rows of stored ids are made where they are read, so they
    # exist in no second copy.
    parts = ["SELECT * FROM alert_events_listed", *(
        f"SELECT i.event_id, m.alert_index, m.rule_id, m.rank, m.stage, false AS validator "
        f"FROM {name} i JOIN alert_map m ON m.tbl = {t} AND m.alert_no = i.alert_no"
        for t, name in enumerate(sorted(stored)))]
    conn.execute("CREATE OR REPLACE TEMP VIEW alert_events AS " + " UNION ALL ".join(parts))


# A person's SSO role is shared by every person given it, so its sessions are profiled per
# person (the session ARN names them); a service role's sessions (instances, tasks) per role.
_ENTITY_SQL = """CASE WHEN e.access_key_id LIKE 'AKIA%' THEN e.access_key_id
    WHEN contains(e.session_issuer_arn, '/AWSReservedSSO_') OR e.session_issuer_arn IS NULL
        THEN 'role:' || coalesce(e.principal_arn, e.access_key_id)
    ELSE 'role:' || e.session_issuer_arn END"""


def _kev_sql(entity: str = "access_key_id") -> str:
    return f"""
        SELECT event_id, event_time, {entity} AS k, {network_sql()} AS net,
               {ua_family_sql()} AS uaf, event_name, event_source, {_STAGE_SQL} AS stage,
               {technique_case_sql()} AS technique,
               created_access_key_id, session_access_key_id, assumed_role_arn, target_user,
               principal_arn, account_id, account, shared_event_id, error_code, source_ip,
               user_agent, access_key_id
        FROM events"""


def _load_key_events(conn: duckdb.DuckDBPyConnection, keys: set[str]) -> None:
    loaded = {k for (k,) in conn.execute("SELECT k FROM cand_keys").fetchall()}
    keys = keys - loaded
    if not keys:
        return
    conn.register("new_keys_arrow", pa.table({"k": pa.array(sorted(keys), pa.string())}))
    conn.execute("INSERT INTO cand_keys SELECT k FROM new_keys_arrow")
    conn.execute(f"INSERT INTO kev {_kev_sql()} "
                 "WHERE access_key_id IN (SELECT k FROM new_keys_arrow)")
    conn.unregister("new_keys_arrow")


def _load_entity_events(conn: duckdb.DuckDBPyConnection, entities: set[str]) -> None:
    """Candidates: keys load their own events; roles load all their sessions' events."""
    keys = {e for e in entities if not e.startswith("role:")}
    _load_key_events(conn, keys)
    roles = sorted(e for e in entities if e.startswith("role:"))
    if not roles:
        return
    conn.register("new_roles_arrow", pa.table({"k": pa.array(roles, pa.string())}))
    conn.execute("INSERT INTO cand_keys SELECT k FROM new_roles_arrow")
    ent = _ENTITY_SQL.replace("e.", "")
    # Filter on the entity before computing networks and user-agent families (regexes).
    conn.execute(f"INSERT INTO kev {_kev_sql(ent)} WHERE access_key_id NOT LIKE 'AKIA%' "
                 f"AND ({ent}) IN (SELECT k FROM new_roles_arrow)")
    conn.unregister("new_roles_arrow")


def _attacker_children(conn: duckdb.DuckDBPyConnection, verdicts: dict[str, KeyVerdict],
                       frontier: set[str]) -> list[tuple[str, str, str, str | None]]:
    """(child key, parent key, created|session, target user) from attacker-labelled events,
    for the whole frontier in one query (one per key costs a job each on Spark), in the
    frontier's sorted order, each key's created keys before its sessions."""
    keys = sorted(frontier)
    pairs = [(n, k, net) for n, k in enumerate(keys)
             for net, (lab, _) in verdicts[k].labels.items() if lab == "attacker"]
    if not pairs:
        return []
    conn.register("attacker_nets_arrow", pa.table({
        "ord": pa.array([p[0] for p in pairs], pa.int64()),
        "k": pa.array([p[1] for p in pairs], pa.string()),
        "net": pa.array([p[2] for p in pairs], pa.string())}))
    # The parent named is the key that made the call (for a role entity, its session).
    rows = conn.execute("""
        SELECT child, parent, kind, target FROM (
            SELECT e.created_access_key_id AS child, e.access_key_id AS parent,
                   'created' AS kind, e.target_user AS target, a.ord, 0 AS part
            FROM kev e JOIN attacker_nets_arrow a ON e.k = a.k AND e.net = a.net
            WHERE e.created_access_key_id IS NOT NULL AND e.error_code IS NULL
            UNION ALL
            SELECT e.session_access_key_id, e.access_key_id, 'session', NULL, a.ord, 1
            FROM kev e JOIN attacker_nets_arrow a ON e.k = a.k AND e.net = a.net
            WHERE e.session_access_key_id IS NOT NULL AND e.error_code IS NULL
        ) c ORDER BY ord, part
    """).fetchall()
    conn.unregister("attacker_nets_arrow")
    entity_of = {p: k for k in frontier for p in _keys_of_entity(conn, k)}
    return [(c, entity_of.get(p, p), kind, u) for c, p, kind, u in rows if c]


def _keys_of_entity(conn: duckdb.DuckDBPyConnection, entity: str) -> list[str]:
    if not entity.startswith("role:"):
        return [entity]
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT access_key_id FROM kev WHERE k = ?", [entity]).fetchall()]


def _climb(conn: duckdb.DuckDBPyConnection, verdicts: dict[str, KeyVerdict],
           parent: dict[str, str], created: dict[str, tuple[str, str | None]]) -> None:
    """Follow the lineage upward from what the attacker used.

    Detection may catch only a late stage (mass reads by a created key, a session in another
    account). The call that created that key or obtained that session was made by another
    key; when it came from a network that key did not routinely use, that key was in the
    attacker's hands too and is the real root. A creation from the creator's own established
    network (an administrator issuing a key that was stolen later) stops the climb."""
    for _ in range(MAX_LINEAGE_DEPTH):
        used = _attacker_keys(conn, verdicts)
        orphans = sorted(k for k in used if k not in parent)
        if not orphans:
            return
        conn.register("orphans_arrow", pa.table({"k": pa.array(orphans, pa.string())}))
        makers = conn.execute(f"""
            SELECT coalesce(session_access_key_id, created_access_key_id) AS child,
                   access_key_id, {network_sql()}, event_time, event_name, target_user
            FROM events WHERE error_code IS NULL AND access_key_id IS NOT NULL
              AND (session_access_key_id IN (SELECT k FROM orphans_arrow)
                   OR created_access_key_id IN (SELECT k FROM orphans_arrow))
        """).fetchall()
        conn.unregister("orphans_arrow")
        grew = False
        for child, maker, net, when, name, user in makers:
            if maker == child or child in parent:
                continue
            ent = maker if maker.startswith("AKIA") else _entity_of_key(conn, maker)
            if ent is None:
                continue
            _load_entity_events(conn, {ent})
            usage = _usage(conn)
            nets = usage.get(ent, {})
            if net not in nets or net in established_networks(nets, when):
                continue
            prior = verdicts.get(ent)
            forced: dict[str, str] = {}
            if prior is not None and prior.compromised:
                forced = {n: "network of an earlier suspicious use"
                          for n, (lab, _) in prior.labels.items() if lab == "attacker"}
            forced.setdefault(net, "created or obtained a key the attacker used")
            verdicts[ent] = judge_key(ent, nets, forced_suspicious=forced)
            if not verdicts[ent].compromised:
                continue
            parent[child] = maker if maker.startswith("AKIA") else ent
            if name == "CreateAccessKey":
                created[child] = (maker, user)
            grew = True
        if not grew:
            return


def _usage(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, NetUse]]:
    """The loaded candidates' per-network usage, with the organisation's networks marked."""
    usage = key_network_usage(conn, "cand_keys")
    mark_org_networks(conn, usage)
    return usage


def _add_session_actions(conn: duckdb.DuckDBPyConnection,
                         usage: dict[str, dict[str, NetUse]]) -> None:
    """Add to each alerted network what the sessions it obtained (AssumeRole,
    GetSessionToken, GetFederationToken) went on to do that their role, or user, had never
    done before them. Needed once, for the first judgement: later ones are forced (derived
    keys, the climb), so only networks that alerted are looked at, never the owner's runs."""
    for k, net, api, stage in conn.execute(f"""
        WITH s AS (
            SELECT DISTINCT k, net, session_access_key_id AS sk, event_time AS t0 FROM kev
            WHERE session_access_key_id IS NOT NULL AND session_access_key_id <> ''
              AND coalesce(error_code, '') = ''
              AND (k, net) IN (SELECT DISTINCT x.k, x.net FROM kev x
                               JOIN alert_events a USING (event_id))),
        se AS (
            SELECT s.k, s.net, s.t0, event_name, {_STAGE_SQL} AS stage,
                   coalesce(session_issuer_arn, principal_arn) AS owner
            FROM s JOIN events e ON e.access_key_id = s.sk
            WHERE coalesce(e.error_code, '') = ''),
        hist AS (
            SELECT coalesce(session_issuer_arn, principal_arn) AS owner, event_name,
                   min(event_time) AS first
            FROM events WHERE coalesce(session_issuer_arn, principal_arn) IN
                (SELECT owner FROM se)
            GROUP BY 1, 2)
        SELECT DISTINCT se.k, se.net, se.event_name, se.stage FROM se
        LEFT JOIN hist h ON h.owner = se.owner AND h.event_name = se.event_name
                        AND h.first < se.t0
        WHERE list_contains(?, se.stage) AND h.owner IS NULL
    """, [sorted(STRONG_STAGES)]).fetchall():
        use = usage.get(k, {}).get(net)
        if use is not None:
            use.strong_apis.setdefault(f"{api} (by a session it obtained)", stage)


def _discount_legitimate_creations(conn: duckdb.DuckDBPyConnection,
                                   verdicts: dict[str, KeyVerdict],
                                   usage: dict[str, dict[str, NetUse]]) -> None:
    """A key with no history of its own, judged compromised on a high alert whose events
    include its own creation, made by a creator who is not compromised, from the creator's
    established network: that alert describes the creation (Terraform issuing a key to a
    vendor's integration, which then lists the buckets it was made for), not a theft. The
    key is judged again without those rules. A theft's creation comes from the thief's
    network, never established for the creator, and keeps its alert."""
    made: dict[str, tuple[str, str, str, Any]] = {}  # key -> (creation, creator, net, when)
    for k, v in sorted(verdicts.items()):
        if not v.compromised or v.baseline_events or not k.startswith("AKIA"):
            continue
        rows = conn.execute(f"""
            SELECT event_id, access_key_id, {network_sql()}, event_time FROM events
            WHERE created_access_key_id = ? AND error_code IS NULL
              AND access_key_id IS NOT NULL AND access_key_id <> ?""", [k, k]).fetchall()
        if len(rows) != 1:
            continue
        event_id, maker, net, when = rows[0]
        ent = maker if maker.startswith("AKIA") else _entity_of_key(conn, maker)
        if ent is not None:
            made[k] = (event_id, ent, net, when)
    if not made:
        return
    _load_entity_events(conn, {ent for _, ent, _, _ in made.values()})
    makers = _usage(conn)
    for k, (event_id, ent, net, when) in sorted(made.items()):
        nets = makers.get(ent, {})
        creator = verdicts.get(ent) or judge_key(ent, nets)
        if creator.compromised or net not in established_networks(nets, when):
            continue
        rules = frozenset(r for (r,) in conn.execute("""
            SELECT DISTINCT rule_id FROM alert_events WHERE rank >= 3 AND alert_index IN (
                SELECT alert_index FROM alert_events WHERE event_id = ?)""",
            [event_id]).fetchall())
        if rules:
            verdicts[k] = judge_key(k, usage.get(k, {}), ignore_rules=rules)


def _attacker_keys(conn: duckdb.DuckDBPyConnection, verdicts: dict[str, KeyVerdict]
                   ) -> set[str]:
    out: set[str] = set()
    for k, v in verdicts.items():
        if not v.compromised:
            continue
        nets = [n for n, (lab, _) in v.labels.items() if lab == "attacker"]
        if k.startswith("role:"):
            out |= {r[0] for r in conn.execute(
                "SELECT DISTINCT access_key_id FROM kev WHERE k = ? AND list_contains(?, net)",
                [k, nets]).fetchall()}
        else:
            out.add(k)
    return out


def _entity_of_key(conn: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = conn.execute(f"SELECT {_ENTITY_SQL} FROM events e WHERE e.access_key_id = ? LIMIT 1",
                       [key]).fetchone()
    return row[0] if row else None


def _root_of(k: str, parent: dict[str, str]) -> str:
    seen = set()
    while k in parent and k not in seen:
        seen.add(k)
        k = parent[k]
    return k


def _register_attribution(conn: duckdb.DuckDBPyConnection, verdicts: dict[str, KeyVerdict],
                          members: dict[str, list[str]]) -> None:
    rows: dict[str, list[Any]] = {"incident": [], "k": [], "net": [], "label": [], "reason": []}
    for root, keys in members.items():
        iid = incident_id(root)
        for k in keys:
            for net, (label, reason) in verdicts[k].labels.items():
                if label in ("attacker", "shared"):
                    rows["incident"].append(iid)
                    rows["k"].append(k)
                    rows["net"].append(net)
                    rows["label"].append(label)
                    rows["reason"].append(reason)
    conn.register("labels_arrow", pa.table({c: pa.array(v, pa.string())
                                            for c, v in rows.items()}))
    # One row per (incident, event): a role entity and a derived key can both cover an event;
    # the attacker label wins over shared.
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE att AS
        SELECT l.incident, kev.event_id, l.label AS attribution, l.reason
        FROM kev JOIN labels_arrow l ON kev.k = l.k AND kev.net = l.net
        QUALIFY row_number() OVER (PARTITION BY l.incident, kev.event_id
                                   ORDER BY l.label = 'attacker' DESC, l.reason) = 1
    """)
    # The same call logged in another account (cross-account AssumeRole, S3 access) is the
    # same act: attribute the twin the same way.
    conn.execute("""
        INSERT INTO att
        SELECT DISTINCT a.incident, e.event_id, a.attribution,
               'same call as an attributed event (sharedEventID)'
        FROM att a JOIN events s ON s.event_id = a.event_id
        JOIN events e ON e.shared_event_id = s.shared_event_id AND e.event_id <> s.event_id
        WHERE s.shared_event_id IS NOT NULL
          AND e.event_id NOT IN (SELECT event_id FROM att)
    """)
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE att_events AS
        SELECT a.incident, a.attribution, a.reason, e.*, {_STAGE_SQL} AS stage,
               {technique_case_sql()} AS technique
        FROM att a JOIN (SELECT {ATT_EVENT_COLUMNS} FROM events
                         WHERE event_id IN (SELECT event_id FROM att)) e USING (event_id)
    """)


def _build_incident(conn: duckdb.DuckDBPyConnection, root: str, keys: list[str],
                    verdicts: dict[str, KeyVerdict], created: dict[str, tuple[str, str | None]],
                    tenants: dict[str, str]) -> Incident:
    iid = incident_id(root)
    q = conn.execute("""
        SELECT min(event_time) FILTER (attribution = 'attacker'),
               max(event_time) FILTER (attribution = 'attacker'),
               count(DISTINCT event_id),
               count(DISTINCT event_id) FILTER (attribution = 'attacker'),
               count(DISTINCT event_id) FILTER (attribution = 'shared'),
               list(DISTINCT source_ip ORDER BY source_ip) FILTER (attribution = 'attacker'
                   AND regexp_full_match(source_ip, '[0-9.]+|[0-9a-fA-F:]+')),
               list(DISTINCT user_agent ORDER BY user_agent) FILTER (attribution = 'attacker'
                   AND user_agent IS NOT NULL),
               list(DISTINCT stage) FILTER (attribution = 'attacker' AND stage IS NOT NULL),
               list(DISTINCT technique) FILTER (attribution = 'attacker'
                   AND technique IS NOT NULL),
               list(DISTINCT account ORDER BY account) FILTER (attribution = 'attacker'),
               list(DISTINCT principal_arn ORDER BY principal_arn)
                   FILTER (attribution = 'attacker' AND principal_arn IS NOT NULL),
               list(DISTINCT assumed_role_arn ORDER BY assumed_role_arn)
                   FILTER (attribution = 'attacker' AND assumed_role_arn IS NOT NULL
                           AND error_code IS NULL)
        FROM att_events WHERE incident = ?
    """, [iid]).fetchone()
    (first, last, n_all, n_att, n_shared, ips, uas, stages, techs, accounts, principals,
     roles) = q
    buckets = _buckets(conn, iid, tenants)
    stages_set = set(stages or [])
    alert_stages = {s for (s,) in conn.execute(
        "SELECT DISTINCT ae.stage FROM alert_events ae JOIN att_events a USING (event_id) "
        "WHERE a.incident = ? AND a.attribution = 'attacker' AND ae.stage IS NOT NULL",
        [iid]).fetchall()}
    stages_set |= alert_stages
    if any(b.bytes_out > 0 for b in buckets):
        stages_set.add("exfiltration")
    validator = any("validator" in r for k in keys for r in verdicts[k].evidence)
    techniques = set(techs or [])
    if "persistence" in stages_set and created:
        techniques.add("T1098.001")
    techniques.add("T1078.004")
    created_keys = [(k, created[k][1]) for k in keys if k in created]
    root_v = verdicts[root]
    legit_ips = _legit_ips(conn, root, root_v)
    principals_all = set(principals or [])
    for k, user in created_keys:
        acct = _account_of_user(conn, k)
        if user and acct:
            principals_all.add(f"arn:aws:iam::{acct}:user/{user}")
    inc = Incident(
        id=iid, root_access_key=root, access_keys=sorted(set(keys)),
        principals=sorted(principals_all), accounts=sorted(set(accounts or [])),
        source_ips=list(ips or []), user_agents=list(uas or []),
        stages=order_stages(stages_set), techniques=sorted(techniques),
        first_seen=first, last_seen=last, event_count=int(n_all),
        attacker_events=int(n_att or 0), shared_events=int(n_shared or 0), buckets=buckets,
        alerts=_incident_alerts(conn, iid), created_keys=created_keys,
        assumed_roles=list(roles or []), legitimate_ips_of_root=legit_ips,
        evidence_reasons=sorted({r for k in keys for r in verdicts[k].evidence}),
    )
    inc.severity = severity_of(stages_set, validator=validator)
    if not stages_set - _LOOK_ONLY and inc.attacker_events <= VALIDATION_ONLY_MAX_EVENTS:
        # Only checked that the key works: it leaked, but nothing was done with it yet. A
        # responder rotates it today; it becomes high the moment anything else happens.
        inc.severity = min(inc.severity, "medium", key=SEVERITY_RANK.__getitem__)
        inc.validation_only = True
    confs = [verdicts[k].confidence for k in keys if verdicts[k].confidence]
    stage_bonus = min(0.15, 0.03 * len(stages_set))
    inc.confidence = round(min(0.99, (confs[0] if confs else 0.5) + stage_bonus), 2)
    inc.ongoing = _ongoing(conn, last)
    inc.title = title_of(inc)
    inc.recommended_actions = actions_of(inc, root_has_legitimate_use=bool(legit_ips)
                                         or root_v.baseline_events > 0)
    return inc


# The first account id among an event's `resources`. CloudTrail lists an S3 data event's
# object and then its bucket (which carries the owner's account id): looking at the first four
# entries covers every S3 data event, in SQL both engines run (a `$[*]` path would return a list
# in DuckDB but unwrapped JSON text in Spark).
_RESOURCE_OWNER_SQL = "coalesce(" + ", ".join(
    f"json_extract_string(resources, '$[{i}].accountId')" for i in range(4)) + ")"


def _buckets(conn: duckdb.DuckDBPyConnection, iid: str, tenants: dict[str, str]
             ) -> list[Bucket]:
    """Objects and bytes read by the attacker, per bucket: successful GetObject only, each
    event once; a data event delivered to two accounts counts in the bucket owner's."""
    rows = conn.execute(f"""
        WITH g AS (
            SELECT *, {_RESOURCE_OWNER_SQL} AS owner
            FROM att_events
            WHERE incident = ? AND attribution = 'attacker' AND event_name = 'GetObject'
              AND error_code IS NULL AND bucket IS NOT NULL
        ), one AS (
            SELECT * FROM g QUALIFY row_number() OVER (
                PARTITION BY coalesce(shared_event_id, event_id)
                ORDER BY (owner IS NOT NULL AND owner = account) DESC, event_id) = 1
        )
        SELECT bucket, account, count(DISTINCT object_key), count(*),
               coalesce(sum(bytes_out), 0), min(event_time), max(event_time)
        FROM one GROUP BY bucket, account ORDER BY 5 DESC, 1
    """, [iid]).fetchall()
    return [Bucket(b, a, int(o), int(n), int(by), tenants.get(b), f, la)
            for b, a, o, n, by, f, la in rows]


def _incident_alerts(conn: duckdb.DuckDBPyConnection, iid: str) -> list[dict[str, Any]]:
    """Per rule: how many of the incident's events it flagged, and which."""
    rows = conn.execute("""
        SELECT ae.rule_id, list(DISTINCT ae.event_id ORDER BY ae.event_id)
        FROM alert_events ae JOIN att a USING (event_id)
        WHERE a.incident = ? GROUP BY ae.rule_id ORDER BY 1
    """, [iid]).fetchall()
    return [{"rule_id": r, "count": len(e), "event_ids": list(e)} for r, e in rows]


def _link_alerts(conn: duckdb.DuckDBPyConnection, alerts: Sequence[Any]) -> dict[int, str]:
    rows = conn.execute("""
        SELECT ae.alert_index, min(a.incident) FROM alert_events ae JOIN att a USING (event_id)
        GROUP BY ae.alert_index
    """).fetchall()
    return {int(i): inc for i, inc in rows}


def _legit_ips(conn: duckdb.DuckDBPyConnection, key: str, verdict: KeyVerdict) -> list[str]:
    nets = [n for n, (lab, _) in verdict.labels.items() if lab == "legit"]
    if not nets:
        return []
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT source_ip FROM kev WHERE k = ? AND list_contains(?, net) "
        "ORDER BY 1 LIMIT 20", [key, nets]).fetchall()]


def _account_of_user(conn: duckdb.DuckDBPyConnection, created_key: str) -> str | None:
    row = conn.execute("SELECT coalesce(account_id, account) FROM kev WHERE "
                       "created_access_key_id = ? LIMIT 1", [created_key]).fetchone()
    return row[0] if row else None


def _ongoing(conn: duckdb.DuckDBPyConnection, last: Any) -> bool:
    """Still going on when the attacker's last event is within an hour of the newest log."""
    if last is None:
        return False
    (newest,) = conn.execute("SELECT max(event_time) FROM events").fetchone()
    return newest is not None and (newest - last).total_seconds() < 3600
