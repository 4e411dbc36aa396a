"""Writing the Case: what correlation decided, as Parquet beside the events.

Written once per hunt (and per watch poll), whole or not at all: the tables go to a new
folder that then replaces `case/` in one rename, so a reader sees the last complete Case and a
crash leaves the previous one. The big table (`attributed_events`: a mass read is millions of
rows) and the graph are written by the engine that holds them - DuckDB's COPY, Spark's
executors - never through this process's memory; the small ones from Python.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from trailhound.case import CASE_DIR
from trailhound.correlate import Correlation
from trailhound.correlate.build import incident_groups, labelled_uses
from trailhound.correlate.incident import incident_id
from trailhound.termsafe import json_bytes


def write_case(conn: Any, store_root: Path, corr: Correlation,
               incidents_doc: dict[str, Any]) -> Path:
    """`conn` is the connection correlation ran on (DuckDB or Spark)."""
    root = Path(store_root)
    new = root / f"{CASE_DIR}.new-{uuid.uuid4().hex[:8]}"
    new.mkdir(parents=True)
    try:
        _export(conn, "SELECT incident, event_id, attribution, reason FROM corr_att",
                new / "attributed_events")
        _export(conn, """SELECT child, parent, kind, event_id, event_time, target_user,
                                assumed_role_arn, account, source_ip FROM mints""",
                new / "mints")
        _write(new / "mints" / "part-lineage.parquet", _extra_mints(corr))
        _write(new / "credentials" / "part-0.parquet", _credentials(conn, corr))
        _write(new / "contexts" / "part-0.parquet", _contexts(corr))
        _write(new / "incidents" / "part-0.parquet", _incidents(incidents_doc))
        _write(new / "impact" / "part-0.parquet", _impact(corr))
        (new / "incidents.json").write_bytes(json_bytes(incidents_doc, indent=True))
        _swap(root / CASE_DIR, new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return root / CASE_DIR


def _swap(target: Path, new: Path) -> None:
    old = target.with_name(f"{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
    # Leftovers of a run that died between the two renames: the Case in place is whole.
    for stale in target.parent.glob(f"{target.name}.*-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _export(conn: Any, sql: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(conn, duckdb.DuckDBPyConnection):
        path = str(folder / "part-0.parquet").replace("'", "''")
        conn.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        return
    # Spark: the executors write the parts (the Spark store is where both sides can read).
    from trailhound.spark.connection import _guard
    from trailhound.spark.store import uri

    _guard(conn.query(sql).write.mode("overwrite").parquet, uri(str(folder)))
    for f in folder.iterdir():
        if not f.name.endswith(".parquet"):
            f.unlink()


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def _extra_mints(corr: Correlation) -> pa.Table:
    """Edges correlation found that the `mints` table does not hold: console sign-ins and
    their sessions, credentials taken from a host the attacker reached into."""
    res = corr.attribution
    rows = [m for m in (res.forced.values() if res else ())
            if m.kind in ("ConsoleLogin", "SendCommand", "StartSession", "SendSSHPublicKey",
                          "SendSerialConsoleSSHPublicKey")]
    return pa.table({
        "child": pa.array([m.child for m in rows], pa.string()),
        "parent": pa.array([m.parent for m in rows], pa.string()),
        "kind": pa.array([m.kind for m in rows], pa.string()),
        "event_id": pa.array([m.event_id for m in rows], pa.string()),
        "event_time": pa.array([m.time for m in rows], pa.timestamp("us")),
        "target_user": pa.array([None] * len(rows), pa.string()),
        "assumed_role_arn": pa.array([m.target for m in rows], pa.string()),
        "account": pa.array([m.account for m in rows], pa.string()),
        "source_ip": pa.array([None] * len(rows), pa.string()),
    })


def _credentials(conn: Any, corr: Correlation) -> pa.Table:
    res = corr.attribution
    cols: dict[str, list[Any]] = {k: [] for k in (
        "incident", "credential", "kind", "how", "parent", "owner", "principal", "account",
        "attacker_first", "mint_kind", "mint_event", "reasons")}
    if res is not None:
        creds = sorted(res.credentials)
        who = _principals(conn, creds)
        for root, members in incident_groups(res):
            iid = incident_id(root)
            for c in members:
                m = res.forced.get(c) or res.mint_of.get(c)
                principal, account = who.get(c, (None, None))
                cols["incident"].append(iid)
                cols["credential"].append(c)
                cols["kind"].append("console" if c.startswith("console:") else
                                    "long-term key" if c.startswith("AKIA") else "session")
                cols["how"].append("minted by the attacker" if c in res.forced else
                                   "root" if c == root else "stolen")
                cols["parent"].append(res.parent.get(c))
                cols["owner"].append(res.compromised.get(c))
                cols["principal"].append(principal)
                cols["account"].append(account or (m.account if m else None))
                cols["attacker_first"].append(res.t0.get(c))
                cols["mint_kind"].append(m.kind if m else None)
                cols["mint_event"].append(m.event_id if m else None)
                cols["reasons"].append(orjson.dumps(
                    [e.to_dict() for e in res.reasons_of(c)]).decode())
    return pa.table({k: pa.array(v, pa.timestamp("us") if k == "attacker_first"
                                 else pa.string()) for k, v in cols.items()})


def _principals(conn: Any, creds: list[str]) -> dict[str, tuple[str | None, str | None]]:
    if not creds:
        return {}
    conn.register("case_q", pa.table({"k": pa.array(creds, pa.string())}))
    try:
        rows = conn.execute("""
            SELECT cred, min(principal_arn), min(acct) FROM kev
            WHERE cred IN (SELECT k FROM case_q) GROUP BY cred""").fetchall()
    finally:
        conn.unregister("case_q")
    return {c: (p, a) for c, p, a in rows}


def _contexts(corr: Correlation) -> pa.Table:
    res = corr.attribution
    cols: dict[str, list[Any]] = {k: [] for k in (
        "incident", "credential", "owner", "network", "client", "attribution", "reason")}
    if res is not None:
        for iid, c, key, label in labelled_uses(res, incident_groups(res)):
            cols["incident"].append(iid)
            cols["credential"].append(c)
            cols["owner"].append(key[0])
            cols["network"].append(key[1])
            cols["client"].append(key[2])
            cols["attribution"].append(label.attribution)
            cols["reason"].append(orjson.dumps(label.reason.to_dict()).decode())
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})


def _incidents(doc: dict[str, Any]) -> pa.Table:
    incs = doc.get("incidents") or []
    return pa.table({
        "id": pa.array([i["id"] for i in incs], pa.string()),
        "severity": pa.array([i["severity"] for i in incs], pa.string()),
        "document": pa.array([orjson.dumps(i).decode() for i in incs], pa.string()),
    })


def _impact(corr: Correlation) -> pa.Table:
    rows = [(inc.id, b) for inc in corr.incidents for b in inc.buckets]
    return pa.table({
        "incident": pa.array([i for i, _ in rows], pa.string()),
        "bucket": pa.array([b.name for _, b in rows], pa.string()),
        "account": pa.array([b.account for _, b in rows], pa.string()),
        "tenant": pa.array([b.tenant for _, b in rows], pa.string()),
        "objects_read": pa.array([b.objects_read for _, b in rows], pa.int64()),
        "get_object_events": pa.array([b.get_object_events for _, b in rows], pa.int64()),
        "bytes_out": pa.array([b.bytes_out for _, b in rows], pa.int64()),
        "first_read": pa.array([b.first_read for _, b in rows], pa.timestamp("us")),
        "last_read": pa.array([b.last_read for _, b in rows], pa.timestamp("us")),
        "source": pa.array(["S3 data events (GetObject, bytesTransferredOut)"] * len(rows),
                           pa.string()),
    })
