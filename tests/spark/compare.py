"""Comparing what two engines produced: stores (rows and manifest) and hunt outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def rows_of(store_root: Path) -> list[tuple]:
    """Every stored event of a store, all columns, in a stable order (via DuckDB)."""
    from trailhound.normalize import COLUMN_NAMES
    from trailhound.store.engine import Store

    st = Store(store_root)
    try:
        conn = st.connect()
        cols = ", ".join((*COLUMN_NAMES, "account", "date"))
        return conn.execute(f"SELECT {cols} FROM events ORDER BY event_id, source_object"
                            ).fetchall()
    finally:
        st.close()


def manifest_of(store_root: Path) -> dict[str, list[tuple]]:
    """The manifest's objects and quarantine, without batch ids and times (which differ run
    to run by design)."""
    from trailhound.store.engine import Store

    st = Store(store_root)
    try:
        db = st.manifest.db
        objects = db.execute(
            "SELECT source, version, size, sha256, status, format, events, duplicates, "
            "rejected, reason FROM objects ORDER BY source").fetchall()
        quarantine = db.execute(
            "SELECT source, position, reason, saved_as IS NOT NULL FROM quarantine "
            "ORDER BY source, position, reason").fetchall()
        return {"objects": objects, "quarantine": quarantine}
    finally:
        st.close()


def incidents_of(out: Path) -> dict[str, Any]:
    """incidents.json without its generation time."""
    doc = json.loads((out / "incidents.json").read_text())
    doc.pop("generated_at")
    return doc


def alerts_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "alerts.ndjson").read_text().splitlines()]


def evidence_of(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "evidence").iterdir())}
