"""Questions a responder asks of one incident, as queries over the store and its Case.

`investigate(conn, Subject(kind, value))` (in `profile`) answers everything about one key,
principal, IP or incident; the functions here serve the hunt's report. Both read the
attribution correlation kept in the store's Case (`att_events`, see `trailhound.case`), so they
work later from the store alone and agree with the hunt's own outputs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from trailhound.case import Case
from trailhound.errors import UsageError
from trailhound.investigate.profile import Subject, find_incident, investigate

__all__ = ["Subject", "daily_activity", "find_incident", "investigate", "investigate_store",
           "milestones", "stage_summary"]


def milestones(conn: duckdb.DuckDBPyConnection, incident_id: str, *, limit: int = 60
               ) -> list[dict[str, Any]]:
    """The moments a timeline needs: first and last attacker activity, the first event of each
    stage, every key created and role assumed, every logging change, first use of each key."""
    rows = conn.execute("""
        WITH a AS (SELECT * FROM att_events WHERE incident = ? AND attribution = 'attacker'),
        marks AS (
            SELECT event_time, 'first attacker activity' AS what, * EXCLUDE (event_time)
            FROM a QUALIFY row_number() OVER (ORDER BY event_time, event_id) = 1
            UNION ALL
            SELECT event_time, 'first ' || stage, * EXCLUDE (event_time) FROM a
            WHERE stage IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY stage ORDER BY event_time, event_id) = 1
            UNION ALL
            SELECT event_time, 'first use of key', * EXCLUDE (event_time) FROM a
            WHERE access_key_id IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY access_key_id ORDER BY event_time,
                                       event_id) = 1
            UNION ALL
            SELECT event_time, 'access key created', * EXCLUDE (event_time) FROM a
            WHERE created_access_key_id IS NOT NULL AND error_code IS NULL
            UNION ALL
            SELECT event_time, 'role assumed', * EXCLUDE (event_time) FROM a
            WHERE assumed_role_arn IS NOT NULL AND error_code IS NULL
            UNION ALL
            SELECT event_time, 'defense evasion', * EXCLUDE (event_time) FROM a
            WHERE stage = 'defense-evasion'
            UNION ALL
            SELECT event_time, 'last attacker activity', * EXCLUDE (event_time) FROM a
            QUALIFY row_number() OVER (ORDER BY event_time DESC, event_id DESC) = 1
        )
        SELECT event_time, list(DISTINCT what ORDER BY what), any_value(event_name),
               any_value(access_key_id), any_value(source_ip), any_value(user_agent),
               any_value(account), any_value(target_user), any_value(created_access_key_id),
               any_value(assumed_role_arn), any_value(error_code), any_value(stage), event_id
        FROM marks GROUP BY event_time, event_id ORDER BY event_time, event_id LIMIT ?
    """, [incident_id, limit]).fetchall()
    keys = ("time", "what", "event_name", "access_key_id", "source_ip", "user_agent", "account",
            "target_user", "created_access_key_id", "assumed_role_arn", "error_code", "stage",
            "event_id")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def daily_activity(conn: duckdb.DuckDBPyConnection, incident_id: str) -> list[dict[str, Any]]:
    """Per day: attacker events, shared events, objects and bytes read by the attacker."""
    rows = conn.execute("""
        SELECT CAST(event_time AS DATE) AS day,
               count(*) FILTER (attribution = 'attacker'),
               count(*) FILTER (attribution = 'shared'),
               count(DISTINCT bucket || '/' || object_key) FILTER (
                   attribution = 'attacker' AND event_name = 'GetObject' AND error_code IS NULL),
               coalesce(sum(bytes_out) FILTER (
                   attribution = 'attacker' AND event_name = 'GetObject' AND error_code IS NULL),
                   0),
               list(DISTINCT stage ORDER BY stage) FILTER (attribution = 'attacker'
                                                           AND stage IS NOT NULL)
        FROM att_events WHERE incident = ? GROUP BY day ORDER BY day
    """, [incident_id]).fetchall()
    return [{"day": d, "attacker_events": int(a), "shared_events": int(s), "objects": int(o),
             "bytes_out": int(b), "stages": list(st or [])} for d, a, s, o, b, st in rows]


def iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def stage_summary(conn: duckdb.DuckDBPyConnection, incident_id: str
                  ) -> dict[str, list[tuple[str, str | None, int, int]]]:
    """stage -> [(API, technique, attacker calls, of which failed)], most used first."""
    rows = conn.execute("""
        SELECT stage, event_source || ':' || event_name, any_value(technique), count(*),
               count(*) FILTER (error_code IS NOT NULL)
        FROM att_events WHERE incident = ? AND attribution = 'attacker' AND stage IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 4 DESC, 2
    """, [incident_id]).fetchall()
    out: dict[str, list[tuple[str, str | None, int, int]]] = {}
    for stage, api, tech, n, failed in rows:
        out.setdefault(stage, []).append((api, tech, int(n), int(failed)))
    return out


def investigate_store(store_root: Path, subject: Subject, *,
                      tenants: dict[str, str] | None = None) -> dict[str, Any]:
    """`investigate` from a store alone: the attribution and incidents the last hunt kept
    there, when it ran (without them every event counts as `other`)."""
    import orjson

    from trailhound.store.engine import Store

    st = Store(Path(store_root))
    try:
        conn = st.connect()
        has_att = Case(st.root).attach(conn)
        doc_path = st.root / "incidents.json"
        incidents = orjson.loads(doc_path.read_bytes()) if doc_path.exists() else None
        if subject.kind == "incident" and incidents is None:
            raise UsageError("no incidents in this store yet (run `trailhound hunt` first)")
        result = investigate(conn, subject, incidents=incidents, tenants=tenants,
                             has_attribution=has_att)
        conn.close()
    finally:
        st.close()
    return result
