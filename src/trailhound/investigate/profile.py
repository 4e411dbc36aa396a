"""Everything one identity did: the responder's questions about a key, a principal, an IP or an
incident, answered from the store.

A stolen key is never alone: the attacker creates keys and obtains sessions with it, so the
subject of an investigation is the *lineage* grown from the seed (keys created with
`CreateAccessKey`, session keys returned by `AssumeRole*`/`GetSessionToken`), and every answer
(timeline, APIs, addresses, buckets, tenants) covers the events of that lineage. Each event
carries the attribution the last hunt gave it (`attacker`, `shared` with the owner's use, or
`other`: not attributed to an incident, normally the owner's legitimate use), so a responder
sees the two uses side by side.

The result is a plain dict of JSON types (`schema_version` 1), the same for `--format json`,
the terminal renderer and the HTML report. Values go into SQL as parameters, never as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from trailhound.case import MAX_DEPTH, MAX_LINEAGE_KEYS, incident_lineage, lineage
from trailhound.errors import UsageError

SCHEMA_VERSION = 1
KINDS = ("key", "principal", "ip", "incident")
__all__ = ["KINDS", "MAX_DEPTH", "MAX_LINEAGE_KEYS", "Subject", "find_incident", "investigate"]
TOP = 50
# The JSON-text columns no answer reads. `inv_ev` leaves them out: for a busy CI key it holds
# millions of rows, and copying every record's raw JSON made it most of a hunt's time.
_WIDE = ("raw", "request_parameters", "response_elements", "additional_event_data",
         "resources", "error_message", "source_object")


@dataclass(frozen=True)
class Subject:
    """What to investigate: one of KINDS and its value, within an optional time window."""

    kind: str
    value: str
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"cannot investigate a {self.kind!r}; one of {', '.join(KINDS)}")
        if not self.value:
            raise UsageError(f"--{self.kind} needs a value")
        if self.since and self.until and _naive_utc(self.since) > _naive_utc(self.until):
            raise UsageError("--since is after --until")


def find_incident(doc: dict[str, Any] | None, incident_id: str) -> dict[str, Any]:
    """The incident with this id, or a unique prefix of it (people type short ids)."""
    incs = (doc or {}).get("incidents") or []
    exact = [i for i in incs if i.get("id") == incident_id]
    if exact:
        return exact[0]
    pre = [i for i in incs if str(i.get("id", "")).startswith(incident_id)]
    if len(pre) == 1:
        return pre[0]
    if len(pre) > 1:
        raise UsageError(f"incident {incident_id!r} is ambiguous: "
                         + ", ".join(str(i.get("id")) for i in pre))
    known = ", ".join(str(i.get("id")) for i in incs[:10]) or "none"
    raise UsageError(f"no incident {incident_id!r} in this store (known: {known})")


def investigate(conn: duckdb.DuckDBPyConnection, subject: Subject, *,
                incidents: dict[str, Any] | None = None,
                tenants: dict[str, str] | None = None,
                has_attribution: bool = True) -> dict[str, Any]:
    """Answer every question about `subject`. `conn` has the `events` view and, when a hunt ran,
    `att_events` (`has_attribution`); `incidents` is the hunt's incidents document (needed for
    `incident` subjects, and a source of bucket tenants when no map is given)."""
    incident: dict[str, Any] | None = None
    if subject.kind == "incident":
        incident = find_incident(incidents, subject.value)
    tenant_map = dict(tenants or {})
    if not tenant_map:
        for inc in (incidents or {}).get("incidents") or []:
            for b in (inc.get("resources") or {}).get("s3_buckets") or []:
                if b.get("tenant"):
                    tenant_map.setdefault(b["name"], b["tenant"])

    window, wparams = _window(subject)
    _attribution_view(conn, incident["id"] if incident else None, has_attribution)
    if subject.kind == "incident":
        assert incident is not None
        seeds = [k for k in (incident.get("root_access_key"), *(incident.get("access_keys")
                                                                 or [])) if k]
        scope, sparams = "TRUE", []
    elif subject.kind == "key":
        seeds, scope, sparams = [subject.value], "TRUE", []
    elif subject.kind == "principal":
        seeds = [r[0] for r in conn.execute(
            f"SELECT DISTINCT access_key_id FROM events WHERE (principal_arn = ? "
            f"OR session_issuer_arn = ?) AND access_key_id IS NOT NULL AND {window} "
            "ORDER BY 1",
            [subject.value, subject.value, *wparams]).fetchall()]
        scope, sparams = "TRUE", []
    else:
        seeds = [r[0] for r in conn.execute(
            f"SELECT DISTINCT access_key_id FROM events WHERE source_ip = ? "
            f"AND access_key_id IS NOT NULL AND {window} ORDER BY 1",
            [subject.value, *wparams]).fetchall()]
        scope, sparams = "source_ip = ?", [subject.value]

    if incident is not None and _in_case(conn, incident["id"]):
        # The lineage correlation found: the incident's credentials, never walked again.
        keys, edges = incident_lineage(conn, incident["id"])
    else:
        keys, edges = lineage(conn, seeds, where=f"{scope} AND {window}",
                              params=[*sparams, *wparams], relation=_graph(conn))
    if subject.kind == "ip":
        where, params = "source_ip = ?", [subject.value]
    elif subject.kind == "principal":
        where = ("(list_contains(?::VARCHAR[], access_key_id) OR principal_arn = ? "
                 "OR session_issuer_arn = ?)")
        params = [keys, subject.value, subject.value]
    elif incident is not None:
        where = "(list_contains(?::VARCHAR[], access_key_id) OR event_id IN " \
                "(SELECT event_id FROM inv_att))"
        params = [keys]
    else:
        where, params = "list_contains(?::VARCHAR[], access_key_id)", [keys]
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE inv_ev AS
        SELECT e.* EXCLUDE ({', '.join(_WIDE)}),
               coalesce(a.attribution, 'other') AS attribution, a.incident,
               {_stage_sql()} AS stage
        FROM events e LEFT JOIN inv_att a USING (event_id)
        WHERE {where} AND {window}
        QUALIFY row_number() OVER (PARTITION BY e.event_id ORDER BY e.event_time) = 1
    """, [*params, *wparams])

    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "query": {"kind": subject.kind, "value": subject.value,
                  "since": iso(subject.since), "until": iso(subject.until)},
        "incident": _incident_brief(incident),
        "summary": _summary(conn),
        "lineage": _lineage_doc(conn, seeds, keys, edges),
        "timeline": {"hourly": _hourly(conn)},
        "apis": _apis(conn),
        "source_ips": _values(conn, "source_ip"),
        "user_agents": _values(conn, "user_agent"),
        "buckets": _buckets(conn, tenant_map,
                            incident["id"] if incident is not None
                            and _in_case(conn, incident["id"]) else None),
    }
    doc["objects"] = _objects(conn)
    doc["tenants"] = _tenants(doc["buckets"])
    doc["incidents"] = [r[0] for r in conn.execute(
        "SELECT DISTINCT incident FROM inv_ev WHERE incident IS NOT NULL ORDER BY 1").fetchall()]
    conn.execute("DROP TABLE IF EXISTS inv_ev")
    return doc


def _in_case(conn: duckdb.DuckDBPyConnection, incident_id: str) -> bool:
    try:
        rows = conn.execute("SELECT count(*) FROM case_credentials WHERE incident = ?",
                            [incident_id]).fetchall()
    except duckdb.CatalogException:
        return False
    return bool(rows and rows[0][0])


def _graph(conn: duckdb.DuckDBPyConnection) -> str:
    """The credential graph to walk: the Case's, or (no hunt ran yet) one made from events."""
    try:
        (n,) = conn.execute("SELECT count(*) FROM case_mints").fetchall()[0]
        if n:
            return "case_mints"
    except duckdb.CatalogException:
        pass
    from trailhound.correlate.graph import mints_sql

    conn.execute(f"CREATE OR REPLACE TEMP VIEW inv_mints AS {mints_sql()}")
    return "inv_mints"


def iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _window(subject: Subject) -> tuple[str, list[Any]]:
    conds, params = ["TRUE"], []
    if subject.since:
        conds.append("event_time >= ?")
        params.append(_naive_utc(subject.since))
    if subject.until:
        conds.append("event_time <= ?")
        params.append(_naive_utc(subject.until))
    return " AND ".join(conds), params


def _naive_utc(t: datetime) -> datetime:
    """Event times are stored as naive UTC; a time given with an offset is converted first."""
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _attribution_view(conn: duckdb.DuckDBPyConnection, incident_id: str | None,
                      has_attribution: bool) -> None:
    """One attribution per event: `attacker` wins over `shared` when incidents overlap; for an
    incident subject, only that incident's attribution counts."""
    if not has_attribution:
        conn.execute("CREATE OR REPLACE TEMP TABLE inv_att (event_id VARCHAR, "
                     "attribution VARCHAR, incident VARCHAR)")
        return
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE inv_att AS
        SELECT event_id,
               CASE WHEN bool_or(attribution = 'attacker') THEN 'attacker' ELSE 'shared' END
                   AS attribution,
               arg_max(incident, (attribution = 'attacker', incident)) AS incident
        FROM att_events WHERE ?::VARCHAR IS NULL OR incident = ?::VARCHAR GROUP BY event_id
    """, [incident_id, incident_id])


def _lineage_doc(conn: duckdb.DuckDBPyConnection, seeds: list[str], keys: list[str],
                 edges: list[dict[str, Any]]) -> dict[str, Any]:
    rows = conn.execute("""
        SELECT access_key_id, mode(principal_arn), list(DISTINCT account ORDER BY account),
               min(event_time), max(event_time), count(*),
               count(*) FILTER (attribution = 'attacker'), count(*) FILTER (attribution = 'shared'),
               list(DISTINCT stage ORDER BY stage) FILTER (attribution = 'attacker'
                                                           AND stage IS NOT NULL),
               min(event_time) FILTER (attribution = 'attacker'),
               max(event_time) FILTER (attribution = 'attacker')
        FROM inv_ev WHERE access_key_id IS NOT NULL GROUP BY 1
    """).fetchall()
    stats = {r[0]: r[1:] for r in rows}
    per_stage: dict[str, dict[str, int]] = {}
    for k, stage, n in conn.execute("""
        SELECT access_key_id, stage, count(*) FROM inv_ev
        WHERE attribution = 'attacker' AND stage IS NOT NULL AND access_key_id IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
    """).fetchall():
        per_stage.setdefault(k, {})[stage] = int(n)
    parent = {e["to"]: e for e in edges}
    nodes = []
    for k in keys:
        p, accounts, first, last, n, att, shared, stages, afirst, alast = stats.get(
            k, (None, [], None, None, 0, 0, 0, [], None, None))
        e = parent.get(k)
        nodes.append({
            "key": k, "principal": p, "accounts": list(accounts or []),
            "kind": ("console sign-in" if k.startswith("console:") else
                     "session" if k.startswith("ASIA") else "long-lived"),
            "parent": e["from"] if e else None, "via": e["relation"] if e else "seed",
            "first_seen": iso(first), "last_seen": iso(last), "events": int(n),
            "attacker_events": int(att), "shared_events": int(shared),
            "attacker_first_seen": iso(afirst), "attacker_last_seen": iso(alast),
            "stages": list(stages or []), "stage_events": per_stage.get(k, {}),
        })
    return {"seeds": list(dict.fromkeys(seeds)), "keys": nodes, "edges": edges,
            "truncated": len(keys) >= MAX_LINEAGE_KEYS}


def _stage_sql() -> str:
    from trailhound.correlate.stages import event_stage_sql

    return event_stage_sql()


def _summary(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    (n, att, shared, first, last, afirst, alast, accounts, principals, bytes_att, bytes_all
     ) = conn.execute("""
        SELECT count(*), count(*) FILTER (attribution = 'attacker'),
               count(*) FILTER (attribution = 'shared'), min(event_time), max(event_time),
               min(event_time) FILTER (attribution = 'attacker'),
               max(event_time) FILTER (attribution = 'attacker'),
               list(DISTINCT account ORDER BY account) FILTER (account IS NOT NULL),
               list(DISTINCT principal_arn ORDER BY principal_arn)
                   FILTER (principal_arn IS NOT NULL),
               coalesce(sum(bytes_out) FILTER (attribution = 'attacker' AND event_name =
                   'GetObject' AND error_code IS NULL), 0),
               coalesce(sum(bytes_out) FILTER (event_name = 'GetObject'
                   AND error_code IS NULL), 0)
        FROM inv_ev
    """).fetchone()
    return {"events": int(n), "attacker_events": int(att), "shared_events": int(shared),
            "other_events": int(n) - int(att) - int(shared),
            "first_seen": iso(first), "last_seen": iso(last),
            "attacker_first_seen": iso(afirst), "attacker_last_seen": iso(alast),
            "accounts": list(accounts or []), "principals": list(principals or []),
            "bytes_out": int(bytes_all), "attacker_bytes_out": int(bytes_att)}


def _hourly(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = conn.execute("""
        SELECT date_trunc('hour', event_time) AS h, count(*) FILTER (attribution = 'attacker'),
               count(*) FILTER (attribution = 'shared'), count(*) FILTER (attribution = 'other')
        FROM inv_ev GROUP BY h ORDER BY h
    """).fetchall()
    return [{"hour": iso(h), "attacker": int(a), "shared": int(s), "other": int(o)}
            for h, a, s, o in rows]


def _apis(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = conn.execute("""
        SELECT event_source, event_name, count(*), count(*) FILTER (error_code IS NULL),
               count(*) FILTER (attribution = 'attacker'),
               min(event_time), max(event_time),
               list(DISTINCT error_code ORDER BY error_code) FILTER (error_code IS NOT NULL)
        FROM inv_ev GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
    """).fetchall()
    return [{"event_source": src, "event_name": name, "calls": int(n), "succeeded": int(ok),
             "failed": int(n) - int(ok), "attacker_calls": int(att), "first_seen": iso(f),
             "last_seen": iso(la), "error_codes": list(errs or [])}
            for src, name, n, ok, att, f, la, errs in rows]


def _values(conn: duckdb.DuckDBPyConnection, column: str) -> list[dict[str, Any]]:
    """Distinct source IPs or user agents, first seen first (a new address after years of the
    same runner addresses is the question); `column` is one of two fixed names."""
    assert column in ("source_ip", "user_agent")
    rows = conn.execute(f"""
        SELECT {column}, min(event_time), max(event_time), count(*),
               count(*) FILTER (attribution = 'attacker'),
               list(DISTINCT access_key_id ORDER BY access_key_id)
                   FILTER (access_key_id IS NOT NULL),
               min(event_time) FILTER (attribution = 'attacker'),
               max(event_time) FILTER (attribution = 'attacker')
        FROM inv_ev WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 2, 1 LIMIT {TOP * 4}
    """).fetchall()
    return [{"value": v, "first_seen": iso(f), "last_seen": iso(la), "events": int(n),
             "attacker_events": int(a), "attacker_first_seen": iso(af),
             "attacker_last_seen": iso(al), "access_keys": list(k or [])[:20]}
            for v, f, la, n, a, k, af, al in rows]


def _buckets(conn: duckdb.DuckDBPyConnection, tenants: dict[str, str],
             incident_id: str | None = None) -> list[dict[str, Any]]:
    """Per bucket: what the subject's events read, and of it the attacker's share. For an
    incident the attacker's share is the Case's (correlation counted it once; the report and
    incidents.json show the same figure)."""
    rows = conn.execute("""
        SELECT bucket, any_value(recipient_account_id), count(*),
               count(DISTINCT object_key) FILTER (event_name = 'GetObject'
                   AND error_code IS NULL),
               count(*) FILTER (event_name = 'GetObject' AND error_code IS NULL),
               coalesce(sum(bytes_out) FILTER (event_name = 'GetObject'
                   AND error_code IS NULL), 0),
               coalesce(sum(bytes_out) FILTER (event_name = 'GetObject' AND error_code IS NULL
                   AND attribution = 'attacker'), 0),
               count(DISTINCT object_key) FILTER (event_name = 'GetObject'
                   AND error_code IS NULL AND attribution = 'attacker'),
               min(event_time) FILTER (event_name = 'GetObject' AND error_code IS NULL),
               max(event_time) FILTER (event_name = 'GetObject' AND error_code IS NULL)
        FROM inv_ev WHERE bucket IS NOT NULL GROUP BY 1 ORDER BY 6 DESC, 3 DESC, 1
    """).fetchall()
    impact: dict[str, tuple[int, int]] = {}
    if incident_id is not None:
        for b, objs, by in conn.execute(
                "SELECT bucket, sum(objects_read), sum(bytes_out) FROM case_impact "
                "WHERE incident = ? GROUP BY bucket", [incident_id]).fetchall():
            impact[b] = (int(objs), int(by))
    out = []
    for b, acct, n, objs, gets, by, aby, aobjs, f, la in rows:
        if incident_id is not None:
            aobjs, aby = impact.get(b, (0, 0))
        out.append({"bucket": b, "account": acct, "tenant": tenants.get(b), "s3_events": int(n),
                    "objects_read": int(objs), "get_object_events": int(gets),
                    "bytes_out": int(by), "attacker_bytes_out": int(aby),
                    "attacker_objects_read": int(aobjs), "first_read": iso(f),
                    "last_read": iso(la)})
    return out


def _objects(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The objects read successfully, most bytes first (what the data-protection officer asks
    for), capped at a few hundred; the evidence file has every read."""
    rows = conn.execute(f"""
        SELECT bucket, object_key, count(*), coalesce(sum(bytes_out), 0),
               count(*) FILTER (attribution = 'attacker'), min(event_time), max(event_time)
        FROM inv_ev WHERE event_name = 'GetObject' AND error_code IS NULL
              AND bucket IS NOT NULL
        GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2 LIMIT {TOP * 4}
    """).fetchall()
    return [{"bucket": b, "key": k, "reads": int(n), "bytes_out": int(by),
             "attacker_reads": int(a), "first_read": iso(f), "last_read": iso(la)}
            for b, k, n, by, a, f, la in rows]


def _tenants(buckets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for b in buckets:
        if not b["tenant"] or not b["get_object_events"]:
            continue
        t = out.setdefault(b["tenant"], {"tenant": b["tenant"], "buckets": [],
                                         "objects_read": 0, "bytes_out": 0,
                                         "attacker_bytes_out": 0})
        t["buckets"].append(b["bucket"])
        t["objects_read"] += b["objects_read"]
        t["bytes_out"] += b["bytes_out"]
        t["attacker_bytes_out"] += b["attacker_bytes_out"]
    return sorted(out.values(), key=lambda t: (-t["bytes_out"], t["tenant"]))


def _incident_brief(inc: dict[str, Any] | None) -> dict[str, Any] | None:
    if inc is None:
        return None
    return {k: inc.get(k) for k in ("id", "title", "severity", "confidence", "first_seen",
                                    "last_seen", "root_access_key", "stages", "techniques")}
