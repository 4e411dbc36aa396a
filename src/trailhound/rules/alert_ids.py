"""Alert event ids kept by the engine, not in Python.

A noisy rule over a big store flags millions of events (SigmaHQ's `aws_sts_assumerole_misuse`
matches most role activity: 7.6 M ids at 8.8 M events in one benchmark). Held as Python
strings they cost ~90 bytes each: the DuckDB hunt's memory grew ~0.4 GB per million events,
and a Spark hunt's driver, which received them all, ran out of heap at 8.8 M events. So
`detect` leaves each rule's (alert number, event id) rows where the engine made them, an
`IdsTable`, and an alert carries a `StoredIds`: its table, number and count. The ids are read
back in order, a chunk at a time, only where they are written out (alerts.ndjson, `detect
--format ndjson|json`), and joined in SQL where correlation needs them (`relation_on`).

- `DuckDBIds`: a temporary table of the detect connection (inside DuckDB's memory limit,
  spilling to the store's tmp/ beyond it).
- Spark's `detect` writes Parquet from the executors (`spark/alert_ids.py`); correlation reads
  it back on Spark, and a local DuckDB reads it for writing alerts out.

`run_rule` (self-tests, the watch's polls) still returns tuples: its alerts are few.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, overload

import duckdb

CHUNK = 50_000


class IdsTable:
    """Where one `detect` run's (alert_no BIGINT, event_id VARCHAR) rows are.

    `conn` and `name`: a DuckDB connection and a relation on it that `StoredIds` reads.
    `add` stores a rule's rows, `discard` removes a failed rule's, `relation_on` names the
    rows on the connection correlation runs on (None: not readable there)."""

    name: str

    @property
    def conn(self) -> Any:
        raise NotImplementedError

    def add(self, conn: Any, select_sql: str, part: str) -> None:
        """Store the rows of `select_sql` (run on `conn`, the detect connection) as `part`."""
        raise NotImplementedError

    def discard(self, conn: Any, part: str, first_no: int) -> None:
        """Forget what `add` stored for `part` (alert numbers above `first_no`)."""
        raise NotImplementedError

    def relation_on(self, conn: Any) -> str | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what holds the rows (the alerts' ids are unreadable afterwards)."""


class DuckDBIds(IdsTable):
    """A temporary table of the DuckDB connection `detect` ran on; or, given `name`, a
    table of that connection that outlives this object (the watch's book keeps its ids)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, name: str | None = None) -> None:
        self._conn = conn
        self._owned = name is None
        # A unique name: the alerts of an earlier run on the same connection keep theirs.
        self.name = name or f"alert_event_ids_{uuid.uuid4().hex[:12]}"
        if self._owned:
            conn.execute(f"CREATE TEMP TABLE {self.name} (alert_no BIGINT, event_id VARCHAR)")

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        return self._conn

    def add(self, conn: Any, select_sql: str, part: str) -> None:
        conn.execute(f"INSERT INTO {self.name} " + select_sql)

    def discard(self, conn: Any, part: str, first_no: int) -> None:
        conn.execute(f"DELETE FROM {self.name} WHERE alert_no > ?", [first_no])

    def relation_on(self, conn: Any) -> str | None:
        return self.name if conn is self._conn else None

    def close(self) -> None:
        if not self._owned:
            return
        # A closed connection took the table with it.
        with contextlib.suppress(duckdb.ConnectionException):
            self._conn.execute(f"DROP TABLE IF EXISTS {self.name}")


class StoredIds(Sequence[str]):
    """The event ids of one alert, sorted, as they are in an `IdsTable`.

    Behaves as the tuple it replaces (len, iteration, indexing, slicing, equality with any
    sequence of the same ids), so code written for tuples keeps working; code that may meet
    millions of ids uses `chunks`. Valid until the table is closed."""

    __slots__ = ("_n", "alert_no", "table")

    def __init__(self, table: IdsTable, alert_no: int, count: int) -> None:
        self.table = table
        self.alert_no = alert_no
        self._n = count

    @property
    def conn(self) -> Any:
        return self.table.conn

    def __len__(self) -> int:
        return self._n

    def chunks(self, size: int = CHUNK) -> Iterator[list[str]]:
        """The ids in order, `size` at a time. Do not query `conn` until this is exhausted
        (a DuckDB connection has one pending result)."""
        res = self._query("", [])
        while rows := res.fetchmany(size):
            yield [r[0] for r in rows]

    def __iter__(self) -> Iterator[str]:
        # Fetched whole before yielding: a caller may query the connection between items.
        return iter(self._slice(0, self._n))

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[str, ...]: ...

    def __getitem__(self, i: int | slice) -> str | tuple[str, ...]:
        if isinstance(i, slice):
            start, stop, step = i.indices(self._n)
            if step != 1:
                return self._slice(0, self._n)[i]
            return self._slice(start, max(start, stop))
        j = i + self._n if i < 0 else i
        if not 0 <= j < self._n:
            raise IndexError("alert event id index out of range")
        return self._slice(j, j + 1)[0]

    def _slice(self, start: int, stop: int) -> tuple[str, ...]:
        if stop <= start:
            return ()
        rows = self._query(" LIMIT ? OFFSET ?", [stop - start, start]).fetchall()
        return tuple(r[0] for r in rows)

    def _query(self, tail: str, params: list[Any]) -> Any:
        try:
            return self.conn.execute(
                f"SELECT event_id FROM {self.table.name} WHERE alert_no = ? ORDER BY event_id"
                + tail, [self.alert_no, *params])
        except (duckdb.ConnectionException, duckdb.CatalogException) as e:
            raise RuntimeError("an alert's event ids are read from the engine detect ran "
                               "on, which has let them go: read them before closing its "
                               "connection") from e

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredIds) and other.table is self.table and (
                other.alert_no == self.alert_no):
            return True
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == self._n and tuple(other) == tuple(self)

    # Equal to a tuple of the same ids, so it must hash like one.
    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"StoredIds({self.table.name}, alert {self.alert_no}, {self._n} ids)"


def id_chunks(ids: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """Any alert's ids, `size` at a time, without materialising stored ones."""
    if isinstance(ids, StoredIds):
        yield from ids.chunks(size)
        return
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
