"""The watch's own database (`<store>/watch/state.duckdb`): what it has processed, the rules'
carried-over state and the alert book.

The book keeps each alert's event ids in a table of their own (`book_ids`, by alert number),
never in Python: over a week of a large organisation's trail they are millions (a noisy rule
flags most role activity). Correlation and the output files read them there, on this
database's connection (`analysis`), as a batch hunt reads its detect's ids.

Every poll is one transaction: a crash or a kill in the middle leaves the state as it was
after the previous poll, and the next run processes the same new parts again (the store
already holds them; ingest is idempotent). State built under other rules is rebuilt from the
store, once, on start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from trailhound.errors import StoreError
from trailhound.rules.alert_ids import DuckDBIds, StoredIds
from trailhound.rules.model import Alert, RuleSet
from trailhound.rules.timerange import ts_sql
from trailhound.store.engine import (
    Store,
    default_memory_limit,
    define_events_view,
    sql_literal,
)
from trailhound.watch import detect as wd

STATE_VERSION = "3"
# Events stamped further in the future than this are kept in the store and judged, but do
# not move the watch's clock (a skewed or forged timestamp must not expire the state).
FUTURE_SKEW = timedelta(days=1)
CLOCK_SPREAD = timedelta(hours=1)


@dataclass
class PollChanges:
    """What one poll changed in the alert book."""

    events: int = 0
    added: list[Alert] = field(default_factory=list)  # alerts not in the book before
    changed: list[Alert] = field(default_factory=list)  # same alert, more (or other) events
    removed: int = 0
    rebuilt: bool = False
    first_event: datetime | None = None
    last_event: datetime | None = None

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt)


class WatchState:
    def __init__(self, store: Store, ruleset: RuleSet, *,
                 memory_limit: str | None = None) -> None:
        self.store = store
        folder = store.root / "watch"
        folder.mkdir(exist_ok=True)
        self.path = folder / "state.duckdb"
        try:
            self.conn = duckdb.connect(
                str(self.path), config={"memory_limit": memory_limit or default_memory_limit()})
        except duckdb.Error as e:
            raise StoreError(f"cannot open watch state ({str(e).splitlines()[0]})",
                             location=str(self.path)) from None
        self.conn.execute("SET TimeZone='UTC'")
        self.conn.execute("SET enable_progress_bar = false")
        self.conn.execute("SET preserve_insertion_order = false")
        # Not under the store's tmp/: every ingest empties that.
        spill = folder / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        self.conn.execute(f"SET temp_directory={sql_literal(str(spill))}")
        self.plans = wd.plan_rules(ruleset)
        self.fingerprint = wd.ruleset_fingerprint(self.plans)
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, "
                          "value VARCHAR)")
        self.ids = DuckDBIds(self.conn, "book_ids")

    def close(self) -> None:
        self.conn.close()

    # -- meta ---------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        # fetchall: a result left half read would block `register` on this connection.
        rows = self.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    def put(self, key: str, value: str | None) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def _time(self, key: str) -> datetime | None:
        v = self.get(key)
        return datetime.fromisoformat(v) if v else None

    def _put_time(self, key: str, t: datetime | None) -> None:
        self.put(key, t.isoformat() if t else None)

    @property
    def ready(self) -> bool:
        return (self.get("version") == STATE_VERSION
                and self.get("fingerprint") == self.fingerprint)

    # -- alerts ---------------------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        """The book in batch order (what `detect` over the same store returns); the event ids
        are read from `book_ids` where they are used."""
        rows = self.conn.execute(
            "SELECT rule_id, entity, bucket, alert_no, alert FROM book").fetchall()
        items = [((r, e, b), self._alert(no, j)) for r, e, b, no, j in rows]
        items.sort(key=wd.book_order)
        return [a for _, a in items]

    def _alert(self, alert_no: int, text: str) -> Alert:
        return wd.alert_from_json(text, ids=lambda n: StoredIds(self.ids, int(alert_no), n))

    @contextmanager
    def analysis(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This database's connection with `events` over the store's committed parts, for
        correlation and the output files (the alerts' ids are joined here). What they leave
        behind (temporary tables of a whole hunt's size) is dropped afterwards."""
        c = self.conn
        before = self._temporaries()
        self._store_view(sorted(self.store.manifest.committed_parts()), "events")
        try:
            yield c
        finally:
            for name, kind in sorted(self._temporaries() - before):
                c.execute(f'DROP {kind} IF EXISTS "{name}"')

    def _temporaries(self) -> set[tuple[str, str]]:
        return {(n, "VIEW" if v else "TABLE") for n, v in self.conn.execute(
            "SELECT table_name, false FROM duckdb_tables() WHERE temporary UNION ALL "
            "SELECT view_name, true FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()}

    def incidents_snapshot(self) -> dict[str, str]:
        """Incident id -> severity at the last correlation (what new or escalated means)."""
        return orjson.loads(self.get("incidents") or "{}")

    def save_incidents_snapshot(self, snapshot: dict[str, str]) -> None:
        self.put("incidents", orjson.dumps(snapshot).decode())

    # -- building ------------------------------------------------------------------------
    def _store_view(self, parts: list[str], name: str) -> None:
        """`parts` are relative to the store (as the manifest and `parts_seen` keep them, so
        a store copied or moved elsewhere keeps its watch state)."""
        root = self.store.root
        define_events_view(self.conn, [str(root / p) for p in parts], name, temp=True)

    def _newest(self, relation: str) -> datetime | None:
        """The trail's clock after these events: their latest time, but never more than an
        hour past their 90th percentile. One forged or skewed timestamp must not move the
        clock ahead (every later, honest delivery would then look late and force a rebuild);
        too early a clock only keeps a little more state."""
        limit = datetime.now(UTC).replace(tzinfo=None) + FUTURE_SKEW
        (t, p90) = self.conn.execute(
            f"SELECT max(event_time), quantile_disc(event_time, 0.9) FROM {relation} "
            f"WHERE event_time <= {ts_sql(limit)}").fetchall()[0]
        if t is None:
            return None
        return min(t, p90 + CLOCK_SPREAD)

    def bootstrap(self) -> PollChanges:
        """(Re)build everything from the committed store: the alert book is what a batch
        `detect` finds, the summaries hold the whole history. Costs one batch detection."""
        # A book of an older layout is not read: everything counts as new after the rebuild.
        before = self._book_map() if self._has_book() and (
            self.get("version") == STATE_VERSION) else {}
        parts = sorted(self.store.manifest.committed_parts())
        self._store_view(parts, "store_events")
        c = self.conn
        c.execute("BEGIN TRANSACTION")
        try:
            for (name,) in c.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE NOT temporary "
                    "AND table_name <> 'meta'").fetchall():
                c.execute(f'DROP TABLE "{name}"')
            c.execute("CREATE TABLE book (rule_id VARCHAR, entity VARCHAR, bucket TIMESTAMP, "
                      "alert_no BIGINT, ids_sig UBIGINT, alert VARCHAR)")
            c.execute("CREATE TABLE book_ids (alert_no BIGINT, event_id VARCHAR)")
            c.execute("CREATE TABLE parts_seen (path VARCHAR PRIMARY KEY)")
            wd.create_tables(c, self.plans, "SELECT * FROM store_events")
            newest = self._newest("store_events")
            span = wd.retained_span(self.plans)
            recent_from = newest - span if newest else None
            where = f"event_time >= {ts_sql(recent_from)}" if recent_from else "true"
            # Hour by hour: rows land roughly in time order (row-group time ranges then let
            # polls skip old rows) without sorting a day of full events in memory at once.
            if recent_from is None:
                c.execute(f"INSERT INTO recent SELECT * FROM store_events WHERE {where}")
            else:
                (top,) = c.execute("SELECT max(event_time) FROM store_events").fetchall()[0]
                h = recent_from
                while h <= top:
                    c.execute("INSERT INTO recent SELECT * FROM store_events "
                              f"WHERE event_time >= {ts_sql(h)} "
                              f"AND event_time < {ts_sql(h + timedelta(hours=1))}")
                    h += timedelta(hours=1)
            wd.absorb(c, [p for p in self.plans if p.kind == "new_terms"], "store_events")
            for p in self.plans:
                if p.kind == "sequence":
                    wd.absorb(c, [p], "store_events")
                elif p.kind == "threshold" and p.state is not None:
                    wd.rebuild_aggregates(c, p, "store_events")
            # The book: every rule over the whole store, exactly as batch detection runs it,
            # the ids going straight from the rule's query into book_ids.
            c.execute("CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM store_events")
            from trailhound.rules.run import keyed_stored_alerts
            from trailhound.rules.timerange import ALL_TIME

            for p in self.plans:
                try:
                    rows = keyed_stored_alerts(c, p.rule, ALL_TIME, self.ids, self._last_no())
                except duckdb.Error:
                    continue  # batch detect reports it as skipped; so does the watch
                self._insert_book([((p.rule.id, e, b), a) for (e, b), a in rows])
            if newest is not None:
                wd.prune(c, self.plans, newest)
            self._put_time("newest", newest)
            self._put_time("recent_from", recent_from)
            self._mark_seen(parts)
            self.put("version", STATE_VERSION)
            self.put("fingerprint", self.fingerprint)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        changes = self._diff(before, self._book_map())
        changes.rebuilt = True
        return changes

    # -- polling ---------------------------------------------------------------------------
    def unseen_parts(self) -> list[str]:
        committed = sorted(self.store.manifest.committed_parts())
        if not committed:
            return []
        seen = {r[0] for r in self.conn.execute("SELECT path FROM parts_seen").fetchall()}
        return [p for p in committed if p not in seen]

    def poll(self) -> PollChanges:
        """Fold the store's new parts into the state and re-run what they can change."""
        parts = self.unseen_parts()
        if not parts:
            return PollChanges()
        c = self.conn
        self._store_view(parts, "new_view")
        c.execute("CREATE OR REPLACE TEMP TABLE new_ev AS SELECT * FROM new_view")
        n, first, last = c.execute(
            "SELECT count(*), min(event_time), max(event_time) FROM new_ev").fetchone()
        if not n:
            c.execute("BEGIN TRANSACTION")
            self._mark_seen(parts)
            c.execute("COMMIT")
            return PollChanges()
        recent_from = self._time("recent_from")
        floors = {p.n: wd.floor_of(p, first) for p in self.plans}
        reach = min((floors[p.n] - p.reads for p in self.plans if p.kind != "sequence"),
                    default=first)
        newest_before = self._time("newest")
        # Sequence steps are kept for twice `within` behind the newest event, so a poll
        # starting more than the late margin behind it could miss a chain's first step.
        late = newest_before is not None and first < newest_before - wd.LATE_MARGIN
        if (recent_from is not None and reach < recent_from) or late:
            # Events older than the state keeps (a very late delivery): the exact answer
            # needs the whole history again.
            changes = self.bootstrap()
            changes.events, changes.first_event, changes.last_event = int(n), first, last
            return changes
        before = {}
        c.execute("BEGIN TRANSACTION")
        try:
            c.execute("INSERT INTO recent SELECT * FROM new_ev")
            hit = wd.touched(c, self.plans, "new_ev")
            plans = [p for p in self.plans if p.n in hit]
            wd.absorb(c, plans, "new_ev")
            after = {}
            for p in plans:
                since = floors[p.n]
                before.update(self._book_map(p.rule.id, since))
                try:
                    rows = wd.evaluate(c, p, since)
                except duckdb.Error:
                    continue
                c.execute("DELETE FROM book_ids WHERE alert_no IN (SELECT alert_no FROM book "
                          "WHERE rule_id = ? AND bucket >= ?)", [p.rule.id, since])
                c.execute("DELETE FROM book WHERE rule_id = ? AND bucket >= ?",
                          [p.rule.id, since])
                self._insert_book(rows)
                after.update(self._book_map(p.rule.id, since))
            newest = max(filter(None, [newest_before, self._newest("new_ev")]), default=None)
            if newest is not None:
                wd.prune(c, self.plans, newest)
                span_from = newest - wd.retained_span(self.plans)
                self._put_time("recent_from", max(filter(None, [recent_from, span_from])))
            self._put_time("newest", newest)
            self._mark_seen(parts)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        changes = self._diff(before, after)
        changes.events, changes.first_event, changes.last_event = int(n), first, last
        return changes

    # -- helpers ---------------------------------------------------------------------------
    def _has_book(self) -> bool:
        return bool(self.conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'book'").fetchone()[0])

    def _book_map(self, rule_id: str | None = None, since: datetime | None = None
                  ) -> dict[wd.AlertKey, tuple[int, int | None, str]]:
        """(rule, entity, window) -> (alert number, signature of its event ids, alert)."""
        sql, params = "SELECT rule_id, entity, bucket, alert_no, ids_sig, alert FROM book", []
        if rule_id is not None:
            sql += " WHERE rule_id = ? AND bucket >= ?"
            params = [rule_id, since]
        return {(r, e, b): (no, sig, j)
                for r, e, b, no, sig, j in self.conn.execute(sql, params).fetchall()}

    def _last_no(self) -> int:
        return int(self.get("last_alert_no") or 0)

    def _insert_book(self, keyed: list[tuple[wd.AlertKey, Alert]]) -> None:
        """Alerts into the book. Their ids are already in book_ids when they are `StoredIds`
        of this book (the bootstrap's rule queries put them there); tuples (a poll's few)
        are added. Numbers only grow, so an alert read earlier never reads another's ids."""
        if not keyed:
            return
        first = self._last_no()
        nos: list[int] = []
        ids_no: list[int] = []
        ids: list[str] = []
        for n, (_key, a) in enumerate(keyed, start=first + 1):
            if isinstance(a.event_ids, StoredIds) and a.event_ids.table is self.ids:
                nos.append(a.event_ids.alert_no)
                continue
            nos.append(n)
            ids_no += [n] * len(a.event_ids)
            ids += list(a.event_ids)
        c = self.conn
        if ids:
            c.register("ids_rows", pa.table({"alert_no": pa.array(ids_no, pa.int64()),
                                             "event_id": pa.array(ids, pa.string())}))
            c.execute("INSERT INTO book_ids SELECT * FROM ids_rows")
            c.unregister("ids_rows")
        c.register("book_rows", pa.table({
            "rule_id": pa.array([k[0] for k, _ in keyed], pa.string()),
            "entity": pa.array([k[1] for k, _ in keyed], pa.string()),
            "bucket": pa.array([k[2] for k, _ in keyed], pa.timestamp("us")),
            "alert_no": pa.array(nos, pa.int64()),
            "alert": pa.array([wd.alert_json(a) for _, a in keyed], pa.string()),
        }))
        c.execute("INSERT INTO book SELECT rule_id, entity, bucket, alert_no, NULL, alert "
                  "FROM book_rows")
        c.unregister("book_rows")
        # A signature of each new alert's ids (order-free), to tell a grown alert from an
        # unchanged one without reading the ids back.
        c.execute("""UPDATE book SET ids_sig = s.sig
                     FROM (SELECT alert_no, bit_xor(hash(event_id)) AS sig FROM book_ids
                           WHERE alert_no > ? GROUP BY alert_no) s
                     WHERE book.alert_no = s.alert_no""", [first])
        self.put("last_alert_no", str(max(first, *nos)))

    def replace_seen(self, old: list[str], new: str) -> None:
        """A compaction merged parts this state had processed into `new`: it is not new."""
        self.conn.execute("BEGIN TRANSACTION")
        self.conn.execute("DELETE FROM parts_seen WHERE path IN (SELECT unnest(?))", [old])
        self.conn.execute("INSERT OR IGNORE INTO parts_seen VALUES (?)", [new])
        self.conn.execute("COMMIT")

    def _mark_seen(self, parts: list[str]) -> None:
        if parts:
            self.conn.register("seen_rows", pa.table({"path": pa.array(parts, pa.string())}))
            self.conn.execute("INSERT OR IGNORE INTO parts_seen SELECT path FROM seen_rows")
            self.conn.unregister("seen_rows")

    def _diff(self, before: dict[wd.AlertKey, tuple[int, int | None, str]],
              after: dict[wd.AlertKey, tuple[int, int | None, str]]) -> PollChanges:
        ch = PollChanges()
        for k, (no, sig, j) in after.items():
            if k not in before:
                ch.added.append(self._alert(no, j))
            elif before[k][1] != sig:
                ch.changed.append(self._alert(no, j))
        ch.removed = sum(1 for k in before if k not in after)
        ch.added.sort(key=lambda a: (a.event_time, a.rule_id))
        ch.changed.sort(key=lambda a: (a.event_time, a.rule_id))
        return ch


def state_path(store: Path) -> Path:
    return Path(store) / "watch" / "state.duckdb"


def remove_state(store: Path) -> None:
    for p in (state_path(store), Path(str(state_path(store)) + ".wal")):
        if p.exists():
            os.unlink(p)
