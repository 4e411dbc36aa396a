"""The Case: correlation's answer, kept beside the events, and the one API that reads it.

Correlation decides once which events are the attacker's, along which credential lineage,
and how many bytes left which bucket. Everything after it - investigate, the reports, respond,
watch, the Spark path - reads that answer here instead of working it out again, so the
incident a responder reads in the report, the evidence file and `investigate --incident` is
the same one.

Tables (Parquet, `<store>/case/<table>/*.parquet`, written by `write.write_case`):

| table | one row per |
|---|---|
| `attributed_events` | incident and event: `attribution` (attacker, shared), typed `reason` |
| `credentials` | credential of an incident: how it came into the attacker's hands, its parent |
| `mints` | edge of the credential graph: parent -> child, the minting call |
| `contexts` | use context of an incident credential: its label and why |
| `incidents` | incident: the contract's document (JSON) and its headline fields |
| `impact` | incident and bucket: objects, GetObject events, bytes, where the figure came from |

`Case(store).attach(conn)` makes them views of a DuckDB connection (`case_<table>`), and
`att_events`: the attributed events joined with the events, which the reports query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson

from trailhound.store.engine import sql_literal

CASE_DIR = "case"
TABLES = ("attributed_events", "credentials", "mints", "contexts", "incidents", "impact")
MAX_LINEAGE_KEYS = 500
MAX_DEPTH = 8

__all__ = ["CASE_DIR", "MAX_DEPTH", "MAX_LINEAGE_KEYS", "TABLES", "Case", "lineage"]


class Case:
    """The Case of the last hunt over a store."""

    def __init__(self, store_root: Path) -> None:
        self.root = Path(store_root)
        self.dir = self.root / CASE_DIR

    def exists(self) -> bool:
        return (self.dir / "attributed_events").is_dir()

    def files(self, table: str) -> list[str]:
        folder = self.dir / table
        return sorted(str(p) for p in folder.glob("*.parquet")) if folder.is_dir() else []

    def attach(self, conn: duckdb.DuckDBPyConnection) -> bool:
        """Define `case_<table>` views and `att_events` on `conn` (which has `events`).
        False when the store has no Case yet (no hunt ran): `att_events` is then empty."""
        from trailhound.correlate.stages import event_stage_sql, technique_case_sql

        have = self.exists()
        for t in TABLES:
            files = self.files(t)
            if files:
                lst = "[" + ", ".join(sql_literal(f) for f in files) + "]"
                conn.execute(f"CREATE OR REPLACE TEMP VIEW case_{t} AS SELECT * FROM "
                             f"read_parquet({lst}, union_by_name = true)")
            else:
                conn.execute(f"CREATE OR REPLACE TEMP VIEW case_{t} AS {_EMPTY[t]}")
        conn.execute(f"""
            CREATE OR REPLACE TEMP VIEW att_events AS
            SELECT a.incident, a.attribution, a.reason, e.*, {event_stage_sql()} AS stage,
                   {technique_case_sql()} AS technique
            FROM case_attributed_events a JOIN events e USING (event_id)""")
        return have

    def incidents_document(self) -> dict[str, Any] | None:
        """incidents.json as the hunt that wrote this Case left it."""
        path = self.dir / "incidents.json"
        return orjson.loads(path.read_bytes()) if path.exists() else None


# Empty views of each table's columns, for a store no hunt has run on yet.
_EMPTY = {
    "attributed_events": "SELECT NULL::VARCHAR AS incident, NULL::VARCHAR AS event_id, "
                         "NULL::VARCHAR AS attribution, NULL::VARCHAR AS reason WHERE false",
    "credentials": "SELECT NULL::VARCHAR AS incident, NULL::VARCHAR AS credential, "
                   "NULL::VARCHAR AS kind, NULL::VARCHAR AS how, NULL::VARCHAR AS parent, "
                   "NULL::VARCHAR AS owner, NULL::VARCHAR AS principal, NULL::VARCHAR AS "
                   "account, NULL::TIMESTAMP AS attacker_first, NULL::VARCHAR AS mint_kind, "
                   "NULL::VARCHAR AS mint_event, NULL::VARCHAR AS reasons WHERE false",
    "mints": "SELECT NULL::VARCHAR AS child, NULL::VARCHAR AS parent, NULL::VARCHAR AS kind, "
             "NULL::VARCHAR AS event_id, NULL::TIMESTAMP AS event_time, NULL::VARCHAR AS "
             "target_user, NULL::VARCHAR AS assumed_role_arn, NULL::VARCHAR AS account, "
             "NULL::VARCHAR AS source_ip WHERE false",
    "contexts": "SELECT NULL::VARCHAR AS incident, NULL::VARCHAR AS credential, NULL::VARCHAR "
                "AS owner, NULL::VARCHAR AS network, NULL::VARCHAR AS client, NULL::VARCHAR "
                "AS attribution, NULL::VARCHAR AS reason WHERE false",
    "incidents": "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS severity, NULL::VARCHAR AS "
                 "document WHERE false",
    "impact": "SELECT NULL::VARCHAR AS incident, NULL::VARCHAR AS bucket, NULL::VARCHAR AS "
              "account, NULL::VARCHAR AS tenant, NULL::BIGINT AS objects_read, NULL::BIGINT "
              "AS get_object_events, NULL::BIGINT AS bytes_out WHERE false",
}


def lineage(conn: duckdb.DuckDBPyConnection, seeds: list[str], *, where: str = "TRUE",
            params: list[Any] | None = None, relation: str = "case_mints",
            max_keys: int = MAX_LINEAGE_KEYS, max_depth: int = MAX_DEPTH
            ) -> tuple[list[str], list[dict[str, Any]]]:
    """Credentials reached from `seeds` through the graph's mints (keys created, sessions
    obtained), breadth first, so each credential's parent is the first that led to it and
    the result is a tree. `where` filters mints (a time window, an address); `relation` is
    the graph's table (`case_mints`, or correlation's `mints` while it runs)."""
    seen: list[str] = []
    known: set[str] = set()
    edges: list[dict[str, Any]] = []
    for seed in seeds:  # in order, so a seed minted by an earlier one hangs under it
        if seed in known:
            continue
        known.add(seed)
        seen.append(seed)
        frontier = [seed]
        for _ in range(max_depth):
            if not frontier or len(seen) >= max_keys:
                break
            rows = conn.execute(f"""
                SELECT parent, child, kind, target_user, assumed_role_arn, event_time,
                       event_id, account, source_ip
                FROM {relation}
                WHERE list_contains(?::VARCHAR[], parent) AND ({where})
                ORDER BY event_time, event_id""", [frontier, *(params or [])]).fetchall()
            nxt = []
            for parent, child, kind, user, role, t, eid, account, ip in rows:
                if not child or child in known or len(seen) >= max_keys:
                    continue
                known.add(child)
                seen.append(child)
                nxt.append(child)
                edges.append(edge(parent, child, kind, user, role, t, eid, account, ip))
            frontier = nxt
    return seen, edges


def edge(parent: str | None, child: str, kind: str | None, user: str | None,
         role: str | None, t: Any, event_id: str | None, account: str | None,
         source_ip: str | None) -> dict[str, Any]:
    """One lineage edge as investigate and the reports show it."""
    return {"from": parent, "to": child,
            "relation": "created-key" if kind == "CreateAccessKey" else "session",
            "api": kind, "user": user, "role": role, "time": _iso(t), "event_id": event_id,
            "account": account, "source_ip": source_ip}


def incident_lineage(conn: duckdb.DuckDBPyConnection, incident_id: str
                     ) -> tuple[list[str], list[dict[str, Any]]]:
    """The lineage correlation found for an incident: its credentials (the root first, then
    as the attacker got them) and the mints between them. Never walked again."""
    rows = conn.execute("""
        SELECT c.credential, c.parent, m.kind, m.target_user, m.assumed_role_arn, m.event_time,
               m.event_id, m.account, m.source_ip
        FROM case_credentials c LEFT JOIN case_mints m ON m.child = c.credential
        WHERE c.incident = ?
        ORDER BY c.parent IS NOT NULL, c.attacker_first, c.credential""",
        [incident_id]).fetchall()
    creds = [r[0] for r in rows]
    edges = [edge(parent, child, kind, user, role, t, eid, account, ip)
             for child, parent, kind, user, role, t, eid, account, ip in rows if parent]
    return creds, edges


def _iso(t: Any) -> str | None:
    if t is None:
        return None
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
