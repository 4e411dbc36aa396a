"""Detection that carries its state from poll to poll.

A batch `detect` reads every rule's history from the whole store; a watch cannot afford that
every minute. So the watch keeps, in its own DuckDB database next to the store:

- `recent`: the full events of the last few hours (as far back as any rule's finding can
  still change, plus a margin for late deliveries);
- per new_terms rule, the first occurrence of every (entity, value) and each entity's hourly
  event counts (the kind's `SUMMARIES`);
- per baseline threshold rule, every (entity, window)'s metrics;
- per sequence rule, only the events that match one of its steps, for twice its `within`;
- the alert book: every alert so far, keyed by (rule, entity, window).

A poll merges its new events into these and re-runs each rule over the span its new events
can affect: from the first new event back by the rule's horizon (a threshold window, a
new_terms evidence window, a sequence's `within`). The alerts of that span replace the ones
the book held for it, so an alert that grows over several polls is one alert, and the book
ends equal to what a batch `detect` over the same events returns.

The rules' SQL is the same the batch runs: the kinds read their history from named summaries
(`hits_sql(..., state=...)`) and `events` is redefined per rule to the relation it needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import duckdb
import orjson

from trailhound.rules.detection import detection_where
from trailhound.rules.durations import seconds
from trailhound.rules.kinds import first_seen, threshold
from trailhound.rules.model import Alert, Rule, RuleSet
from trailhound.rules.run import alert_order, keyed_alerts
from trailhound.rules.timerange import TimeRange, ts_sql

# Late deliveries: CloudTrail delivers within about 15 minutes, and a file can hold records
# older than that. Events older than the retained span force a rebuild from the store.
LATE_MARGIN = timedelta(hours=2)

AlertKey = tuple[str, str, datetime]  # rule id, entity, window (or finding) start


@dataclass(frozen=True)
class Plan:
    """How one rule is re-run: how far back from a poll's first new event its findings can
    change (`back`), how much older history its query reads besides (`reads`), and the
    names of its state tables."""

    rule: Rule
    n: int
    back: timedelta
    reads: timedelta

    @property
    def kind(self) -> str:
        return self.rule.kind

    @cached_property
    def touches_sql(self) -> str:
        """True for an event that can change this rule's findings: one its detection (or a
        step, or the history it counts) selects. A poll none of whose events does leaves
        the rule's alerts as they were, and the rule is not re-run."""
        rule = self.rule
        if self.kind == "sigma":
            return f"({rule.spec['_where']})"
        if self.kind == "sequence":
            return f"({_sequence_where(rule)})"
        p = rule.spec[self.kind]
        where = f"({detection_where(p.get('select'))})"
        if self.kind == "new_terms":
            where += f" OR ({detection_where(p.get('history'), what='history')})"
        return where

    @cached_property
    def summaries(self) -> dict[str, str]:
        """new_terms: the summary queries over the poll's new events."""
        return first_seen.summary_sql(self.rule, relation="new_ev")

    def table(self, name: str) -> str:
        return f"r{self.n}_{name}"

    @property
    def state(self) -> dict[str, str] | None:
        if self.kind == "new_terms":
            return {k: self.table(k) for k in first_seen.SUMMARIES}
        if self.kind == "threshold" and threshold.uses_baseline(self.rule):
            return {"agg": self.table("agg")}
        return None


def plan_rules(ruleset: RuleSet) -> list[Plan]:
    plans = []
    for n, rule in enumerate(ruleset.enabled):
        if rule.kind == "new_terms":
            back, reads = first_seen.horizon_seconds(rule)
            plans.append(Plan(rule, n, timedelta(seconds=back), timedelta(seconds=reads)))
        elif rule.kind == "threshold":
            w = timedelta(seconds=threshold.window_seconds(rule))
            plans.append(Plan(rule, n, w, timedelta(0)))
        elif rule.kind == "sequence":
            within = timedelta(seconds=seconds(rule.spec["sequence"]["within"]))
            plans.append(Plan(rule, n, within, within))
        else:
            plans.append(Plan(rule, n, timedelta(seconds=rule.window_seconds), timedelta(0)))
    return plans


def ruleset_fingerprint(plans: Iterable[Plan]) -> str:
    """State built under other rules (or other tuning) is not reused."""
    h = hashlib.sha256()
    for p in plans:
        h.update(orjson.dumps([p.rule.id, p.rule.level, p.rule.window_seconds,
                               p.rule.group_by, list(p.rule.filters)]))
        h.update(orjson.dumps(p.rule.spec, default=str, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def retained_span(plans: Iterable[Plan]) -> timedelta:
    """How much of the newest event history `recent` keeps."""
    spans = [p.back + p.reads for p in plans if p.kind != "sequence"]
    return max(spans, default=timedelta(hours=1)) + LATE_MARGIN


def _sequence_where(rule: Rule) -> str:
    steps = rule.spec["sequence"]["steps"]
    ors = " OR ".join(f"({detection_where(s['select'])})" for s in steps)
    return f"access_key_id IS NOT NULL AND ({ors})"


# DuckDB's `time_bucket` origin for intervals of seconds to days: windows are aligned to it.
_BUCKET_ORIGIN = datetime(2000, 1, 3)


def _floor(plan: Plan, t: datetime) -> datetime:
    """The start of the span a poll recomputes for this rule."""
    if plan.kind in ("threshold", "sigma"):
        # Whole windows, aligned as the rule's grouping aligns them.
        w = plan.back // timedelta(microseconds=1)
        offset = (t - _BUCKET_ORIGIN) // timedelta(microseconds=1)
        return _BUCKET_ORIGIN + timedelta(microseconds=(offset // w) * w)
    return t - plan.back


def touched(conn: duckdb.DuckDBPyConnection, plans: list[Plan], source: str) -> set[int]:
    """The plans (by `n`) some event of `source` can affect, in one scan."""
    if not plans:
        return set()
    cols = ", ".join(f"bool_or(coalesce({p.touches_sql}, false))" for p in plans)
    try:
        row = conn.execute(f"SELECT {cols} FROM {source}").fetchone()
    except duckdb.Error:
        # One rule's expression fails on this store (a column an extra rule needs): judge
        # each alone; one that still fails is re-run, and reports its own error there.
        out = set()
        for p in plans:
            try:
                (hit,) = conn.execute(
                    f"SELECT bool_or(coalesce({p.touches_sql}, false)) FROM {source}").fetchone()
            except duckdb.Error:
                hit = True
            if hit:
                out.add(p.n)
        return out
    return {p.n for p, hit in zip(plans, row, strict=True) if hit}


def create_tables(conn: duckdb.DuckDBPyConnection, plans: list[Plan], events_sql: str) -> None:
    """Empty state tables shaped like the store's events and the rules' summaries."""
    conn.execute(f"CREATE TABLE recent AS SELECT * FROM ({events_sql}) WHERE false")
    for p in plans:
        if p.kind == "new_terms":
            for name, sql in first_seen.summary_sql(p.rule, relation="recent").items():
                keys, _ = first_seen.SUMMARIES[name]
                cols = conn.execute(f"DESCRIBE {sql}").fetchall()
                ddl = ", ".join(f"{c[0]} {c[1]}" for c in cols)
                conn.execute(f"CREATE TABLE {p.table(name)} ({ddl}, "
                             f"PRIMARY KEY ({', '.join(keys)}))")
        elif p.kind == "threshold" and p.state is not None:
            conn.execute(f"CREATE TABLE {p.table('agg')} AS "
                         f"{threshold.agg_sql(p.rule, 'false', 'recent')} LIMIT 0")
        elif p.kind == "sequence":
            conn.execute(f"CREATE TABLE {p.table('steps')} AS SELECT * FROM recent LIMIT 0")


_MERGE = {"min": "least({t}.{c}, excluded.{c})", "sum": "{t}.{c} + excluded.{c}"}


def absorb(conn: duckdb.DuckDBPyConnection, plans: list[Plan], source: str) -> None:
    """Fold the events of relation `source` into the summaries (new_terms and sequence
    state; threshold windows are recomputed per poll from `recent`)."""
    for p in plans:
        if p.kind == "new_terms":
            sums = (p.summaries if source == "new_ev"
                    else first_seen.summary_sql(p.rule, relation=source))
            for name, sql in sums.items():
                keys, merges = first_seen.SUMMARIES[name]
                table = p.table(name)
                sets = ", ".join(f"{c} = " + _MERGE[fn].format(t=table, c=c)
                                 for c, fn in merges.items())
                conn.execute(f"INSERT INTO {table} {sql} "
                             f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")
        elif p.kind == "sequence":
            conn.execute(f"INSERT INTO {p.table('steps')} SELECT * FROM {source} "
                         f"WHERE {_sequence_where(p.rule)}")


def rebuild_aggregates(conn: duckdb.DuckDBPyConnection, plan: Plan, source: str) -> None:
    """A baseline threshold rule's windows, all of them, from `source` (bootstrap)."""
    conn.execute(f"DELETE FROM {plan.table('agg')}")
    conn.execute(f"INSERT INTO {plan.table('agg')} {threshold.agg_sql(plan.rule, 'true', source)}")


def evaluate(conn: duckdb.DuckDBPyConnection, plan: Plan, since: datetime | None
             ) -> list[tuple[AlertKey, Alert]]:
    """The rule's alerts from `since` on (all of them when None), from the state."""
    rule = plan.rule
    if plan.state is not None and plan.kind == "threshold":
        where = f"event_time >= {ts_sql(since)}" if since is not None else "true"
        table = plan.table("agg")
        if since is not None:
            conn.execute(f"DELETE FROM {table} WHERE bucket >= {ts_sql(since)}")
        else:
            conn.execute(f"DELETE FROM {table}")
        conn.execute(f"INSERT INTO {table} {threshold.agg_sql(rule, where, 'recent')}")
    source = plan.table("steps") if plan.kind == "sequence" else "recent"
    conn.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM {source}")
    rows = keyed_alerts(conn, rule, TimeRange(since, None), plan.state)
    return [((rule.id, entity, bucket), a) for (entity, bucket), a in rows]


def prune(conn: duckdb.DuckDBPyConnection, plans: list[Plan], newest: datetime) -> None:
    conn.execute(f"DELETE FROM recent WHERE event_time < "
                 f"{ts_sql(newest - retained_span(plans))}")
    for p in plans:
        if p.kind == "sequence":
            conn.execute(f"DELETE FROM {p.table('steps')} WHERE event_time < "
                         f"{ts_sql(newest - 2 * p.back - LATE_MARGIN)}")


def floor_of(plan: Plan, first_new: datetime) -> datetime:
    return _floor(plan, first_new)


def alert_json(a: Alert) -> str:
    """The alert as the book keeps it: everything but its event ids (kept in book_ids)."""
    return orjson.dumps(a.to_dict(with_ids=False)).decode()


def alert_from_json(text: str, ids: Callable[[int], Sequence[str]] | None = None) -> Alert:
    """`ids(count)` gives the event ids of a book entry (stored apart); without it they are
    read from the text."""
    d = orjson.loads(text)
    return Alert(
        rule_id=d["rule_id"], title=d["title"], severity=d["severity"], stage=d["stage"],
        techniques=tuple(d["techniques"]),
        event_ids=ids(int(d["count"])) if ids is not None else tuple(d["event_ids"]),
        event_time=_parse(d["event_time"]), last_event_time=_parse(d["last_event_time"]),
        access_key_id=d["access_key_id"], principal_arn=d["principal_arn"],
        source_ip=d["source_ip"], account=d["account"], count=int(d["count"]),
        author=d.get("author") or "",
    )


def _parse(s: str) -> datetime:
    return datetime.fromisoformat(s.rstrip("Z"))


def book_order(item: tuple[AlertKey, Alert]) -> tuple:
    """The batch order: time, rule, key; then what the rule's query orders by."""
    (_, entity, bucket), a = item
    return (*alert_order(a), entity or "", bucket)
