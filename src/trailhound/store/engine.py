"""The store on disk and the DuckDB connection every later stage queries it through.

Layout of a store folder:

    manifest.sqlite                          objects, batches, parts, quarantine (commit point)
    events/account=<id>/date=<YYYY-MM-DD>/   Parquet parts, one set per ingest batch
    quarantine/objects/                      copies of objects that could not be read
    quarantine/records/<batch>.ndjson        records refused, with their object and position
    tmp/                                     staging; emptied at the start of every ingest

Queries see one view, `events`, with the columns of `normalize.COLUMNS` plus the hive
partition columns `account` and `date`. Only parts listed by a committed batch are visible,
so a reader never sees half an ingest.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from trailhound.errors import StoreError, UsageError
from trailhound.normalize import COLUMNS, PARTITION_COLUMNS
from trailhound.store.manifest import Manifest, QuarantineRow

DEFAULT_MEMORY_LIMIT = "1GB"
# DuckDB's memory cap for the store's connections (ingest, detect, hunt, investigate, watch),
# e.g. "8GB". The default suits a laptop; past it DuckDB spills to the store's tmp/, so a
# bigger machine runs a large hunt faster with more, never out of memory with less.
MEMORY_LIMIT_ENV = "TRAILHOUND_MEMORY_LIMIT"


def default_memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT


def sql_literal(value: str) -> str:
    """Quote a string as a SQL literal. Only for values DuckDB cannot take as parameters
    (paths inside view definitions); log values always go in as bound parameters."""
    return "'" + value.replace("'", "''") + "'"


class Store:
    def __init__(self, root: str | os.PathLike[str], *, create: bool = False) -> None:
        self.root = Path(root).absolute()
        if not (self.root / "manifest.sqlite").exists():
            if not create:
                if (self.root / "events").is_dir() and any(
                        (self.root / "events").glob("account=*/date=*/*.parquet")):
                    raise StoreError(
                        "the store's manifest.sqlite is missing: run `trailhound ingest` "
                        "into this store (with its sources) to rebuild it from the parts; "
                        "nothing is deleted", location=str(self.root))
                raise StoreError(
                    "no trailhound store here (run `trailhound ingest` first)",
                    location=str(self.root),
                )
            if self.root.exists() and not self.root.is_dir():
                raise StoreError("exists and is not a folder", location=str(self.root))
            if self.root.is_dir() and not _could_be_store(self.root):
                # A writer empties a store's tmp/ and removes parts no manifest owns: never
                # in a folder that is not a store.
                raise StoreError("exists, is not empty and is not a trailhound store (no "
                                 "manifest.sqlite); give a new or empty folder",
                                 location=str(self.root))
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create store ({e.strerror})",
                                 location=str(self.root)) from None
        self.events_dir = self.root / "events"
        self.quarantine_dir = self.root / "quarantine"
        self.tmp_dir = self.root / "tmp"
        self.manifest = Manifest(self.root / "manifest.sqlite")
        self.adopted_parts = 0

    def close(self) -> None:
        self.manifest.close()

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time; a second ingest into the same store fails fast."""
        fh = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError("another trailhound is writing this store",
                                 location=str(self.root)) from None
            yield
        finally:
            fh.close()

    def recover(self) -> int:
        """Delete part files no committed batch owns (left by a crash) and old staging.

        A manifest with no batch at all beside parts on disk was lost or emptied, not
        interrupted: its parts are adopted (`adopted_parts`), never deleted, and the next
        ingest of the same sources finds their events already stored.

        Returns how many orphan parts were removed."""
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        committed = self.manifest.committed_parts()
        self.adopted_parts = 0
        if not committed and not self.manifest.batch_count() and self.part_files():
            self.adopted_parts = self._adopt_parts()
            return 0
        removed = 0
        for path in self.part_files():
            rel = path.relative_to(self.root).as_posix()
            if rel not in committed:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _adopt_parts(self) -> int:
        """Rebuild the manifest's parts from the files (the objects are re-read by the next
        ingest: they are not recorded, so nothing is skipped). A part that cannot be read
        is moved to quarantine/parts/, named in the manifest's quarantine, not adopted."""
        import pyarrow.parquet as pq

        good: list[tuple[str, int | None]] = []
        bad: list[QuarantineRow] = []
        for path in self.part_files():
            rel = path.relative_to(self.root).as_posix()
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
            except (OSError, ValueError) as e:
                dest = self.quarantine_dir / "parts" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
                bad.append(QuarantineRow(rel, None, f"store part not readable ({e}); moved "
                                         "aside while rebuilding a lost manifest",
                                         dest.relative_to(self.root).as_posix()))
                continue
            good.append((rel, rows))
        self.manifest.commit_batch(f"recovered-{uuid.uuid4().hex[:16]}", good, [], bad)
        return len(good)

    def unreadable_parts(self, *, full: bool = False) -> list[tuple[str, str]]:
        """Committed parts that cannot be read, with why: the footer of each (fast), or
        every page of each (`full`: finds flipped bytes too)."""
        import pyarrow.parquet as pq

        bad: list[tuple[str, str]] = []
        for rel in sorted(self.manifest.committed_parts()):
            try:
                f = pq.ParquetFile(self.root / rel)
                if full:
                    f.read(columns=None)
            except (OSError, ValueError, MemoryError) as e:
                bad.append((rel, str(e).splitlines()[0][:200] if str(e) else type(e).__name__))
        return bad

    def repair(self) -> int:
        """Move every unreadable part to quarantine/parts/ and forget the objects of its
        batch, so the next ingest of the same sources reads them again (events still held
        by the batch's good parts are found there and counted as duplicates)."""
        bad = self.unreadable_parts(full=True)
        rows: list[QuarantineRow] = []
        for rel, why in bad:
            src = self.root / rel
            dest = self.quarantine_dir / "parts" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.exists():
                os.replace(src, dest)
            rows.append(QuarantineRow(rel, None, f"store part not readable ({why}); moved "
                                      "aside, its objects will be read again",
                                      dest.relative_to(self.root).as_posix()))
        if bad:
            self.manifest.drop_parts([rel for rel, _ in bad], rows)
        return len(bad)

    def part_files(self) -> list[Path]:
        if not self.events_dir.exists():
            return []
        return sorted(self.events_dir.glob("account=*/date=*/*.parquet"))

    def committed_part_paths(self) -> list[str]:
        return sorted(str(self.root / p) for p in self.manifest.committed_parts())

    def connect(self, *, memory_limit: str | None = None,
                threads: int | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the `events` view over the committed parts."""
        conn = new_connection(memory_limit=memory_limit, threads=threads,
                              temp_dir=self.tmp_dir / "duckdb")
        try:
            define_events_view(conn, self.committed_part_paths())
        except duckdb.Error:
            conn.close()
            raise self.damaged() from None
        return conn

    def damaged(self) -> StoreError:
        """The one-line error for a store whose parts DuckDB could not open."""
        bad = self.unreadable_parts() or [("?", "a part could not be opened")]
        rel, why = bad[0]
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        return StoreError(f"store part {rel}{more} not readable ({why}): run `trailhound "
                          "ingest --repair` with the store's sources to move it aside and "
                          "read its log objects again", location=str(self.root))


# What a store folder holds; a folder holding anything else is not one.
_STORE_ENTRIES = {"events", "quarantine", "tmp", "case", ".lock", "incidents.json",
                  "manifest.sqlite", "manifest.sqlite-wal", "manifest.sqlite-shm", "watch"}


def _could_be_store(root: Path) -> bool:
    return all(p.name in _STORE_ENTRIES or p.name.startswith(("case.", "manifest.sqlite"))
               for p in root.iterdir())


def new_connection(*, memory_limit: str | None = None, threads: int | None = None,
                   temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """`memory_limit`: None for `default_memory_limit()`."""
    limit = memory_limit or default_memory_limit()
    try:
        conn = duckdb.connect(config={"memory_limit": limit})
    except duckdb.Error as e:
        source = "" if memory_limit else f" (from {MEMORY_LIMIT_ENV})"
        raise UsageError(f"memory limit {limit!r}{source} is not a size DuckDB takes, "
                         f"such as 4GB: {str(e).splitlines()[0]}") from None
    conn.execute("SET TimeZone='UTC'")
    conn.execute("SET preserve_insertion_order=false")
    if threads:
        conn.execute(f"SET threads={int(threads)}")
    if temp_dir is not None:
        # DuckDB creates only the last level of its spill folder, and ingest empties the
        # store's tmp/ when it ends: a big query after an ingest must still be able to spill.
        temp_dir.mkdir(parents=True, exist_ok=True)
        conn.execute(f"SET temp_directory={sql_literal(str(temp_dir))}")
    return conn


def empty_events_sql() -> str:
    cols = ", ".join(f"NULL::{c.sql_type} AS {c.name}" for c in (*COLUMNS, *PARTITION_COLUMNS))
    return f"SELECT {cols} WHERE false"


def define_events_view(conn: duckdb.DuckDBPyConnection, paths: list[str],
                       name: str = "events", *, temp: bool = False) -> None:
    """`temp`: a view that dies with the connection (for a connection to a database file
    that must not keep paths of the store in it)."""
    kind = "TEMP VIEW" if temp else "VIEW"
    if not paths:
        conn.execute(f"CREATE OR REPLACE {kind} {name} AS {empty_events_sql()}")
        return
    files = "[" + ", ".join(sql_literal(p) for p in paths) + "]"
    conn.execute(
        f"CREATE OR REPLACE {kind} {name} AS SELECT * FROM read_parquet({files}, "
        "hive_partitioning=true, hive_types={'account': 'VARCHAR', 'date': 'DATE'})"
    )
