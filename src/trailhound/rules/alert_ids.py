"""Alert event ids kept in the engine, not in Python.

A noisy rule over a big store flags millions of events (SigmaHQ's `aws_sts_assumerole_misuse`
matches most role activity: 3.8 M of 4.4 M events' worth of ids in one benchmark). Held as
Python strings they cost ~90 bytes each, and the hunt's memory grew with the store, ~0.4 GB
per million events, past any limit a user could set. DuckDB's `detect` therefore leaves the
ids in a temporary table of its connection, inside the engine's memory limit (spilling to the
store's tmp/ beyond it), and an alert carries a `StoredIds`: its number and count. The ids
are read back in order, a chunk at a time, only where they are written out (alerts.ndjson,
`detect --format ndjson`) or joined (correlation, in SQL).

Spark's `detect`, the watch and the rule self-tests keep plain tuples: their alerts are
either few or already collected through Spark's driver.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any, overload

import duckdb

CHUNK = 50_000


def new_ids_table(conn: Any) -> str:
    """A fresh table for one `detect` run's ids (a unique name, so the alerts of an earlier
    run on the same connection keep reading their own)."""
    name = f"alert_event_ids_{uuid.uuid4().hex[:12]}"
    conn.execute(f"CREATE TEMP TABLE {name} (alert_no BIGINT, event_id VARCHAR)")
    return name


class StoredIds(Sequence[str]):
    """The event ids of one alert, sorted, as they are in `table` of `conn`.

    Behaves as the tuple it replaces (len, iteration, indexing, slicing, equality with any
    sequence of the same ids), so code written for tuples keeps working; code that may meet
    millions of ids uses `chunks`. Valid while `conn` is open."""

    __slots__ = ("_n", "alert_no", "conn", "table")

    def __init__(self, conn: Any, table: str, alert_no: int, count: int) -> None:
        self.conn = conn
        self.table = table
        self.alert_no = alert_no
        self._n = count

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
                f"SELECT event_id FROM {self.table} WHERE alert_no = ? ORDER BY event_id"
                + tail, [self.alert_no, *params])
        except duckdb.ConnectionException as e:
            raise RuntimeError("an alert's event ids are read from the DuckDB connection "
                               "detect ran on, which is closed: read them before closing "
                               "it") from e

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredIds) and (other.conn, other.table, other.alert_no) == (
                self.conn, self.table, self.alert_no):
            return True
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == self._n and tuple(other) == tuple(self)

    # Equal to a tuple of the same ids, so it must hash like one.
    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"StoredIds({self.table}, alert {self.alert_no}, {self._n} ids)"


def id_chunks(ids: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """Any alert's ids, `size` at a time, without materialising stored ones."""
    if isinstance(ids, StoredIds):
        yield from ids.chunks(size)
        return
    for start in range(0, len(ids), size):
        yield ids[start:start + size]
