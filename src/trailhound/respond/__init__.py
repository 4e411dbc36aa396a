"""`respond`: a containment plan for one incident, carried out on AWS only when asked.

`plan_for(store, incident)` reads the incident the last hunt kept in the store, asks the
store what the attacker's keys and roles are and what their legitimate side does, and returns
an ordered `Plan` whose step statuses come from the incident's action log. It needs no AWS
client and no network. `execute(plan, log, AwsOptions(...))` performs the automatic steps
through boto3, logging every call (see `execute.py`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from trailhound.errors import RespondError
from trailhound.hunt import load_incidents
from trailhound.respond.actionlog import ActionLog
from trailhound.respond.execute import AwsOptions, ExecResult, execute
from trailhound.respond.facts import Facts, gather
from trailhound.respond.plan import ApiCall, Plan, Step, build
from trailhound.store.engine import Store

__all__ = ["ActionLog", "ApiCall", "AwsOptions", "ExecResult", "Facts", "Plan", "Step",
           "apply_log", "execute", "find_incident", "plan_for"]


def find_incident(doc: dict[str, Any], incident_id: str) -> dict[str, Any]:
    """The incident with this id (or a unique prefix of it, as people type ids)."""
    incs = doc.get("incidents") or []
    exact = [i for i in incs if i.get("id") == incident_id]
    if exact:
        return exact[0]
    pre = [i for i in incs if incident_id and str(i.get("id", "")).startswith(incident_id)]
    if len(pre) == 1:
        return pre[0]
    known = ", ".join(str(i.get("id")) for i in incs[:10]) or "none"
    if len(pre) > 1:
        raise RespondError(f"incident {incident_id!r} is ambiguous; matches "
                           + ", ".join(str(i.get("id")) for i in pre))
    raise RespondError(f"no incident {incident_id!r} in this store (known: {known})")


def apply_log(plan: Plan, log: ActionLog) -> Plan:
    """Mark steps done (or failed last time) from the action log."""
    done = log.done()
    last = log.step_results()
    for s in plan.steps:
        if s.id in done:
            s.status, s.done_at = "done", done[s.id]
        elif s.id in last and last[s.id].get("result") == "failed":
            s.status = "failed"
    return plan


def plan_for(store: Path, incident_id: str, *, now: datetime | None = None) -> Plan:
    """The containment plan for `incident_id` from the store alone (no AWS, no network)."""
    st = Store(store)
    try:
        inc = find_incident(load_incidents(st.root), incident_id)
        conn = st.connect()
        try:
            facts = gather(conn, st.root, inc)
        finally:
            conn.close()
    finally:
        st.close()
    plan = build(inc, facts, now=now)
    return apply_log(plan, ActionLog.for_incident(st.root, plan.incident_id))
