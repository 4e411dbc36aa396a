"""Alerts -> incidents along credential lineage: the pipeline of correlation.

1. `alert_events`: every (alert, event) pair, joined in the engine.
2. `attribute`: who used each credential - the owner, the attacker, or indistinguishable -
   over the credential graph (keys created, sessions assumed, console sign-ins, in any
   account), from use contexts weighed against each owner's history.
3. One incident per lineage: every credential the attacker holds that no other attacker
   credential minted roots one incident with all it minted, down the graph; a role's or a
   person's stolen sessions are one incident. The same call logged in two accounts (same
   `sharedEventID`) is attributed alike.
4. Scope (buckets, objects, bytes, addresses, user agents) from attacker-attributed events
   only; `shared` events are evidence, never scope.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from trailhound.correlate.attribute import (
    ATTACKER,
    SHARED,
    Attribution,
    Label,
    attribute,
    descendants,
    owner_of,
    roots,
)
from trailhound.correlate.evidence import SEVERITY_RANK
from trailhound.correlate.history import ContextKey
from trailhound.correlate.incident import (
    Bucket,
    Incident,
    actions_of,
    incident_id,
    order_stages,
    title_of,
)
from trailhound.correlate.policy import Policy, policy
from trailhound.correlate.stages import event_stage_sql, technique_case_sql
from trailhound.rules.alert_ids import StoredIds
from trailhound.store.quarantine import KeyDamage, damage_warnings

# What incidents, evidence and reports read of an attributed event (not `raw`: reading every
# record's JSON to attribute it would cost more than the rest of correlation).
ATT_EVENT_COLUMNS = ", ".join((
    "event_id", "event_time", "event_source", "event_name", "read_only", "aws_region",
    "account", "account_id", "source_ip", "user_agent", "error_code", "identity_type",
    "principal_arn", "access_key_id", "user_name", "target_user", "created_access_key_id",
    "assumed_role_arn", "session_access_key_id", "bucket", "object_key", "bytes_out",
    "shared_event_id", "resources", "request_parameters"))



@dataclass
class Correlation:
    incidents: list[Incident]
    alert_incident: dict[int, str]  # index in the alert list -> incident id
    attribution: Attribution | None = None


def correlate(conn: duckdb.DuckDBPyConnection, alerts: Sequence[Any], *,
              tenants: dict[str, str] | None = None, pol: Policy | None = None,
              damage: dict[str, KeyDamage] | None = None) -> Correlation:
    """`conn` has the `events` view; `alerts` are `rules.Alert`s (or anything with the same
    fields); `damage`: the store's quarantined and repaired records per key, which become
    the incidents' warnings. Returns incidents ordered by severity then first activity."""
    pol = pol or policy()
    tenants = tenants or {}
    _register_alerts(conn, alerts)
    res = attribute(conn, pol)
    groups = incident_groups(res)
    _register_attribution(conn, res, groups)
    incidents = [_build_incident(conn, res, root, members, tenants, pol)
                 for root, members in groups]
    incidents = [i for i in incidents if i.attacker_events > 0]
    for i in incidents:
        i.warnings += damage_warnings(i.access_keys, damage or {})
    incidents.sort(key=lambda i: (-SEVERITY_RANK[i.severity], i.first_seen or 0, i.id))
    alert_incident = _link_alerts(conn, alerts)
    return Correlation(incidents, alert_incident, res)


def incident_groups(res: Attribution) -> list[tuple[str, list[str]]]:
    """(root credential, every credential of its lineage) per incident.

    A stolen long-term key roots its own incident. A role's (or a person's) sessions stolen
    one by one, none minted by another attacker credential, are one incident: the same
    identity in the same hands, rooted at the first of them."""
    by_owner: dict[str, list[str]] = {}
    for r in roots(res):
        o = owner_of(res, r) or r
        by_owner.setdefault(r if o.startswith("AKIA") else o, []).append(r)
    groups = []
    for rs in by_owner.values():
        rs.sort(key=lambda c: (res.t0.get(c) or datetime.max, c))
        members: list[str] = []
        for r in rs:
            members += [c for c in descendants(res, r) if c not in members]
        groups.append((rs[0], members))
    groups.sort(key=lambda g: g[0])
    return groups


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


def labelled_uses(res: Attribution, groups: list[tuple[str, list[str]]]
                  ) -> Iterator[tuple[str, str, ContextKey, Label]]:
    """(incident id, credential, context, label) for every labelled use of every incident
    credential, in a stable order."""
    for root, members in groups:
        iid = incident_id(root)
        for c in members:
            for key in sorted(res.contexts_of.get(c, ())):
                label = res.labels.get((c, key))
                if label is not None:
                    yield iid, c, key, label


def _register_attribution(conn: duckdb.DuckDBPyConnection, res: Attribution,
                          groups: list[tuple[str, list[str]]]) -> None:
    """`corr_att` (incident, event, attribution, reason) and `corr_events` (with the columns the
    outputs read): every attacker or shared use of every credential of every incident."""
    cols: dict[str, list[Any]] = {k: [] for k in ("incident", "cred", "owner", "net", "cli",
                                                  "attribution", "reason")}
    for iid, c, key, label in labelled_uses(res, groups):
        if label.attribution not in (ATTACKER, SHARED):
            continue
        cols["incident"].append(iid)
        cols["cred"].append(c)
        cols["owner"].append(key[0])
        cols["net"].append(key[1])
        cols["cli"].append(key[2])
        cols["attribution"].append(label.attribution)
        cols["reason"].append(orjson.dumps(label.reason.to_dict()).decode())
    conn.register("labels_arrow", pa.table({k: pa.array(v, pa.string())
                                            for k, v in cols.items()}))
    # One row per (incident, event): the attacker label wins over shared.
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE corr_att AS
        SELECT l.incident, k.event_id, l.attribution, l.reason
        FROM kev k JOIN labels_arrow l
          ON k.cred = l.cred AND coalesce(k.owner, '') = coalesce(l.owner, '')
         AND k.net = l.net AND k.cli = l.cli
        QUALIFY row_number() OVER (PARTITION BY l.incident, k.event_id
                                   ORDER BY l.attribution = 'attacker' DESC, l.reason) = 1
    """)
    conn.unregister("labels_arrow")
    # The same call logged in another account (cross-account AssumeRole, S3 access) is the
    # same act: attribute the twin the same way.
    twin = orjson.dumps({"kind": "context", "name": "same-call",
                         "text": "the same call as an attributed event (sharedEventID)"}
                        ).decode()
    conn.execute("""
        INSERT INTO corr_att
        SELECT DISTINCT a.incident, e.event_id, a.attribution, ?
        FROM corr_att a JOIN events s ON s.event_id = a.event_id
        JOIN events e ON e.shared_event_id = s.shared_event_id AND e.event_id <> s.event_id
        WHERE s.shared_event_id IS NOT NULL
          AND e.event_id NOT IN (SELECT event_id FROM corr_att)
    """, [twin])
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE corr_events AS
        SELECT a.incident, a.attribution, a.reason, e.*, {event_stage_sql()} AS stage,
               {technique_case_sql()} AS technique
        FROM corr_att a JOIN (SELECT {ATT_EVENT_COLUMNS} FROM events
                         WHERE event_id IN (SELECT event_id FROM corr_att)) e USING (event_id)
    """)


def _build_incident(conn: duckdb.DuckDBPyConnection, res: Attribution, root: str,
                    members: list[str], tenants: dict[str, str], pol: Policy) -> Incident:
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
        FROM corr_events WHERE incident = ?
    """, [iid]).fetchone()
    (first, last, n_all, n_att, n_shared, ips, uas, stages, techs, accounts, principals,
     roles) = q
    buckets = _buckets(conn, iid, tenants)
    stages_set = set(stages or [])
    alert_stages = {s for (s,) in conn.execute(
        "SELECT DISTINCT ae.stage FROM alert_events ae JOIN corr_events a USING (event_id) "
        "WHERE a.incident = ? AND a.attribution = 'attacker' AND ae.stage IS NOT NULL",
        [iid]).fetchall()}
    stages_set |= alert_stages
    if any(b.bytes_out > 0 or b.reads_of_unknown_size for b in buckets):
        stages_set.add("exfiltration")
    reasons = [(c, e) for c in members for e in res.reasons_of(c)]
    validator = any(e.name == "offensive-tool" for _, e in reasons)
    techniques = set(techs or [])
    created = [(c, m.target) for c in members
               if (m := res.forced.get(c)) is not None and m.kind == "CreateAccessKey"]
    if "persistence" in stages_set and created:
        techniques.add("T1098.001")
    techniques.add("T1078.004")
    principals_all = set(principals or [])
    for c, user in created:
        m = res.forced[c]
        if user and m.account:
            principals_all.add(f"arn:aws:iam::{m.account}:user/{user}")
    root_owner = owner_of(res, root)
    keys = [c for c in members if not c.startswith("console:")]
    root_key = root if not root.startswith("console:") else (keys[0] if keys else None)
    legit_ips = _legit_ips(conn, res, root)
    inc = Incident(
        id=iid, root_access_key=root_key, access_keys=sorted(set(keys)),
        principals=sorted(principals_all), accounts=sorted(set(accounts or [])),
        source_ips=list(ips or []), user_agents=list(uas or []),
        stages=order_stages(stages_set), techniques=sorted(techniques),
        first_seen=first, last_seen=last, event_count=int(n_all),
        attacker_events=int(n_att or 0), shared_events=int(n_shared or 0), buckets=buckets,
        alerts=_incident_alerts(conn, iid), created_keys=created,
        assumed_roles=list(roles or []), legitimate_ips_of_root=legit_ips,
        evidence_reasons=sorted({e.text for _, e in reasons if e.text}),
        root_principal=_principal_of_owner(conn, root_owner, root),
        evidence=[{"credential": c, **e.to_dict()} for c, e in reasons],
    )
    inc.severity = pol.severity_of(stages_set, validator=validator)
    if (not stages_set - {"credential-validation", "discovery"}
            and inc.attacker_events <= pol.validation_only_max_events):
        # Only checked that the key works: it leaked, but nothing was done with it yet. A
        # responder rotates it today (medium, when the evidence is decisive: the credential
        # is in someone else's hands); it becomes high the moment anything else happens.
        decisive = any(e.decisive for _, e in reasons)
        inc.severity = "medium" if decisive else min(inc.severity, "medium",
                                                     key=SEVERITY_RANK.__getitem__)
        inc.validation_only = True
    inc.history_days, inc.warnings = _history(res, root, root_owner, first, pol)
    inc.confidence = _confidence(reasons, stages_set, inc.history_days, pol)
    inc.ongoing = _ongoing(conn, last)
    inc.title = title_of(inc)
    owner = res.owners.get(root_owner or "")
    inc.recommended_actions = actions_of(inc, root_has_legitimate_use=bool(legit_ips) or bool(
        owner and any(u.key not in res.attacker for u in owner.uses.values())))
    return inc


def _principal_of_owner(conn: duckdb.DuckDBPyConnection, owner: str | None, root: str
                        ) -> str | None:
    """The ARN of whoever the root credential belongs to (a key's user)."""
    if owner and not owner.startswith("AKIA"):
        return owner
    rows = conn.execute("SELECT principal_arn FROM kev WHERE cred = ? AND principal_arn IS NOT "
                        "NULL ORDER BY event_time LIMIT 1", [root]).fetchall()
    return rows[0][0] if rows else None


def _history(res: Attribution, root: str, owner_id: str | None, first: datetime | None,
             pol: Policy) -> tuple[float | None, list[str]]:
    """Days of the root owner's own history before its first attacker event, and what a
    responder must know when that is thin."""
    owner = res.owners.get(owner_id or "")
    if owner is None or first is None:
        return None, []
    mine = [u.first_seen for u in owner.uses.values() if u.key not in res.attacker]
    start = min(mine, default=None)
    days = 0.0 if start is None or start >= first else round(
        (first - start).total_seconds() / 86400, 1)
    warnings = []
    if days < pol.thin_history_days:
        since = (first - timedelta(days=pol.suggested_history_days)).strftime("%Y-%m-%d")
        warnings.append(
            f"Only {days:g} days of the owner's own use of {root} precede the attacker's "
            f"first event: the split between the owner's use and the attacker's rests on "
            f"attack tools, credentials minted and alerts, not on a baseline. Ingest from "
            f"--since {since} for a surer split.")
    return days, warnings


def _confidence(reasons: list, stages: set[str], history_days: float | None,
                pol: Policy) -> float:
    """How sure the attribution is: decisive evidence, more stages, a longer owner history
    make it surer."""
    decisive = any(e.decisive for _, e in reasons)
    score = sum(e.weight for _, e in reasons)
    c = 0.8 if decisive else 0.55 + 0.05 * max(0, score - pol.threshold)
    c += min(0.15, 0.03 * len(stages))
    if history_days is not None and history_days < pol.thin_history_days:
        c -= 0.1
    return round(max(0.05, min(0.99, c)), 2)


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
            FROM corr_events
            WHERE incident = ? AND attribution = 'attacker' AND event_name = 'GetObject'
              AND error_code IS NULL AND bucket IS NOT NULL
        ), one AS (
            SELECT * FROM g QUALIFY row_number() OVER (
                PARTITION BY coalesce(shared_event_id, event_id)
                ORDER BY (owner IS NOT NULL AND owner = account) DESC, event_id) = 1
        )
        SELECT bucket, account, count(DISTINCT object_key), count(*),
               coalesce(sum(bytes_out), 0), min(event_time), max(event_time),
               count(*) FILTER (WHERE bytes_out IS NULL)
        FROM one GROUP BY bucket, account ORDER BY 5 DESC, 1
    """, [iid]).fetchall()
    return [Bucket(b, a, int(o), int(n), int(by), tenants.get(b), f, la, int(u))
            for b, a, o, n, by, f, la, u in rows]


def _incident_alerts(conn: duckdb.DuckDBPyConnection, iid: str) -> list[dict[str, Any]]:
    """Per rule: how many of the incident's attacker events it flagged, and which (a rule
    that fired on events shared with the owner's use says nothing of the attacker)."""
    rows = conn.execute("""
        SELECT ae.rule_id, list(DISTINCT ae.event_id ORDER BY ae.event_id)
        FROM alert_events ae JOIN corr_att a USING (event_id)
        WHERE a.incident = ? AND a.attribution = 'attacker' GROUP BY ae.rule_id ORDER BY 1
    """, [iid]).fetchall()
    return [{"rule_id": r, "count": len(e), "event_ids": list(e)} for r, e in rows]


def _link_alerts(conn: duckdb.DuckDBPyConnection, alerts: Sequence[Any]) -> dict[int, str]:
    """alert -> the incident holding one of its events as the attacker's (an alert on the
    owner's use of a stolen key, shared with it, joins no incident)."""
    rows = conn.execute("""
        SELECT ae.alert_index, min(a.incident) FROM alert_events ae JOIN corr_att a USING (event_id)
        WHERE a.attribution = 'attacker' GROUP BY ae.alert_index
    """).fetchall()
    return {int(i): inc for i, inc in rows}


def _legit_ips(conn: duckdb.DuckDBPyConnection, res: Attribution, root: str) -> list[str]:
    keys = sorted(k for (c, k), lab in res.labels.items() if c == root
                  and lab.attribution == "legit")
    if not keys:
        return []
    conn.register("legit_ctx", pa.table({
        "owner": pa.array([k[0] for k in keys], pa.string()),
        "net": pa.array([k[1] for k in keys], pa.string()),
        "cli": pa.array([k[2] for k in keys], pa.string())}))
    try:
        return [r[0] for r in conn.execute(
            "SELECT DISTINCT k.source_ip FROM kev k JOIN legit_ctx l USING (owner, net, cli) "
            "WHERE k.cred = ? AND k.source_ip IS NOT NULL ORDER BY 1 LIMIT 20",
            [root]).fetchall()]
    finally:
        conn.unregister("legit_ctx")


def _ongoing(conn: duckdb.DuckDBPyConnection, last: Any) -> bool:
    """Still going on when the attacker's last event is within an hour of the newest log."""
    if last is None:
        return False
    (newest,) = conn.execute("SELECT max(event_time) FROM events").fetchone()
    return newest is not None and (newest - last).total_seconds() < 3600
