"""The store's manifest: which log objects were ingested, in which batch, and what was refused.

SQLite (stdlib, transactional) is the commit point of the store. A batch's Parquet parts are
written and moved into place first; only then does one transaction record the batch, its
objects and its quarantine entries. A crash before that transaction leaves part files that no
committed batch owns; `orphan_parts` finds them so the next run deletes them and re-reads the
same objects. That is what makes `kill -9` + re-run equal to one clean run.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trailhound.errors import StoreError

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, committed_at TEXT NOT NULL, events INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    path TEXT PRIMARY KEY, batch TEXT NOT NULL REFERENCES batches(id), events INTEGER
);
CREATE TABLE IF NOT EXISTS objects (
    source TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,          -- loaded | quarantined | empty | same-as
    format TEXT,
    events INTEGER NOT NULL,       -- new events stored from this object
    duplicates INTEGER NOT NULL,   -- records whose eventID was already stored or seen
    rejected INTEGER NOT NULL,     -- records quarantined
    reason TEXT,
    batch TEXT,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_sha256 ON objects(sha256);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    position TEXT,                 -- NULL: the whole object
    reason TEXT NOT NULL,
    saved_as TEXT,                 -- copy kept under quarantine/, when one was kept
    batch TEXT,
    at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ObjectRow:
    source: str
    version: str
    size: int
    sha256: str
    status: str
    format: str | None
    events: int
    duplicates: int
    rejected: int
    reason: str | None


@dataclass(frozen=True)
class QuarantineRow:
    source: str
    position: str | None
    reason: str
    saved_as: str | None


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Shared by the ingest and writer threads; every use holds self.lock.
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30,
                                      check_same_thread=False)
            self.lock = threading.RLock()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_DDL)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"manifest is not readable ({e})", location=str(path)) from None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"store written by a newer trailhound (schema {row[0]} > {SCHEMA_VERSION})",
                location=str(path),
            )

    def close(self) -> None:
        self.db.close()

    def lookup(self, source: str) -> tuple[str, str, str] | None:
        """(version, sha256, status) of an object already recorded, else None."""
        row = self.db.execute(
            "SELECT version, sha256, status FROM objects WHERE source=?", (source,)
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def source_with_sha(self, sha256: str) -> str | None:
        row = self.db.execute(
            "SELECT source FROM objects WHERE sha256=? AND status IN ('loaded','empty') LIMIT 1",
            (sha256,),
        ).fetchone()
        return row[0] if row else None

    def committed_parts(self) -> set[str]:
        with self.lock:
            return {r[0] for r in self.db.execute("SELECT path FROM parts")}

    def commit_batch(
        self,
        batch_id: str,
        parts: Iterable[tuple[str, int | None]],
        objects: Iterable[ObjectRow],
        quarantine: Iterable[QuarantineRow],
    ) -> None:
        with self.lock:
            self._commit_batch(batch_id, parts, objects, quarantine)

    def _commit_batch(
        self,
        batch_id: str,
        parts: Iterable[tuple[str, int | None]],
        objects: Iterable[ObjectRow],
        quarantine: Iterable[QuarantineRow],
    ) -> None:
        at = now_iso()
        objects = list(objects)
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(
                "INSERT INTO batches VALUES (?, ?, ?)",
                (batch_id, at, sum(o.events for o in objects)),
            )
            cur.executemany(
                "INSERT INTO parts VALUES (?, ?, ?)", [(p, batch_id, n) for p, n in parts]
            )
            cur.executemany(
                "INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (o.source, o.version, o.size, o.sha256, o.status, o.format, o.events,
                     o.duplicates, o.rejected, o.reason, batch_id, at)
                    for o in objects
                ],
            )
            cur.executemany(
                "INSERT INTO quarantine (source, position, reason, saved_as, batch, at) "
                "VALUES (?,?,?,?,?,?)",
                [(q.source, q.position, q.reason, q.saved_as, batch_id, at) for q in quarantine],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def drop_parts(self, paths: list[str], quarantine: list[QuarantineRow]) -> None:
        """Parts found unreadable leave the store; the objects of their batches are
        forgotten (read again by the next ingest), in one transaction."""
        with self.lock:
            cur = self.db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                batches = {r[0] for p in paths for r in cur.execute(
                    "SELECT batch FROM parts WHERE path = ?", (p,))}
                cur.executemany("DELETE FROM parts WHERE path = ?", [(p,) for p in paths])
                cur.executemany("DELETE FROM objects WHERE batch = ?", [(b,) for b in batches])
                at = now_iso()
                cur.executemany(
                    "INSERT INTO quarantine (source, position, reason, saved_as, batch, at) "
                    "VALUES (?,?,?,?,?,?)",
                    [(q.source, q.position, q.reason, q.saved_as, None, at)
                     for q in quarantine])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def batch_count(self) -> int:
        with self.lock:
            return int(self.db.execute("SELECT count(*) FROM batches").fetchone()[0])

    def part_rows(self) -> list[tuple[str, int | None]]:
        with self.lock:
            return list(self.db.execute("SELECT path, events FROM parts ORDER BY path"))

    def replace_parts(self, batch_id: str, new: list[tuple[str, int]], old: list[str]) -> None:
        """Compaction's commit: the merged parts appear and the parts they hold disappear in
        one transaction, so a reader sees each event exactly once before and after."""
        with self.lock:
            cur = self.db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute("INSERT INTO batches VALUES (?, ?, 0)", (batch_id, now_iso()))
                cur.executemany("INSERT INTO parts VALUES (?, ?, ?)",
                                [(p, batch_id, n) for p, n in new])
                cur.executemany("DELETE FROM parts WHERE path = ?", [(p,) for p in old])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def totals(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(events),0), coalesce(sum(duplicates),0), "
            "coalesce(sum(rejected),0), coalesce(sum(status='quarantined'),0) FROM objects"
        ).fetchone()
        return {"objects": row[0], "events": row[1], "duplicates": row[2],
                "rejected_records": row[3], "quarantined_objects": row[4]}

    def quarantine_entries(self, limit: int | None = None) -> list[tuple[str, str | None, str]]:
        sql = "SELECT source, position, reason FROM quarantine ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [(r[0], r[1], r[2]) for r in self.db.execute(sql)]
