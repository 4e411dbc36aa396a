"""`watch`: ingest what is new, re-run what it can change, say what changed; again.

One poll:
1. ingest the source (the manifest skips every object already stored, so only new objects
   are read);
2. fold the store's new parts into the watch state and re-run the rules over the span they
   touch (`state.WatchState.poll`);
3. emit each new high or critical alert;
4. when an alert of medium or above appeared or grew, or the new events involve a key of a
   known incident, correlate again and emit each new or escalated incident; keep
   `incidents.json` and `alerts.ndjson` current in the output folder and the store.

On SIGINT/SIGTERM the poll under way finishes, the full contract outputs (reports, STIX,
OCSF) are written, and the watch exits; the next start resumes from the state it left.
"""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trailhound.case.write import write_case
from trailhound.correlate import Correlation, Incident, correlate
from trailhound.correlate.evidence import SEVERITY_RANK
from trailhound.hunt import (
    HuntResult,
    atomic_file,
    atomic_write,
    incidents_document,
    write_outputs,
)
from trailhound.rules import DetectResult, RuleSet
from trailhound.sources.base import is_s3
from trailhound.sources.local import walk
from trailhound.sources.s3 import S3Options
from trailhound.store.compact import compact
from trailhound.store.engine import Store
from trailhound.store.ingest import IngestStats, ingest
from trailhound.store.quarantine import damage_by_key
from trailhound.termsafe import json_bytes
from trailhound.watch.replay import Replay
from trailhound.watch.state import PollChanges, WatchState
from trailhound.watch.stream import Stream

ALERT_SEVERITIES = ("high", "critical")
ACTIVITY_REFRESH = timedelta(minutes=15)


@dataclass
class WatchConfig:
    store: Path
    source: str | None = None
    out: Path | None = None
    interval: float = 60.0
    tenants: dict[str, str] = field(default_factory=dict)
    once: bool = False
    max_polls: int | None = None
    s3: S3Options | None = None
    replay: Replay | None = None


@dataclass
class PollReport:
    n: int
    seconds: float
    ingest: IngestStats | None
    changes: PollChanges
    correlated: bool = False
    lines: int = 0
    clock: datetime | None = None


@dataclass
class WatchSummary:
    polls: int = 0
    events: int = 0
    lines: int = 0
    incidents: list[Incident] = field(default_factory=list)
    alerts: int = 0
    first_incident_line: dict[str, Any] | None = None
    poll_seconds: list[float] = field(default_factory=list)
    stopped_by: str | None = None


class Watcher:
    def __init__(self, cfg: WatchConfig, ruleset: RuleSet, stream: Stream,
                 say: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.ruleset = ruleset
        self.stream = stream
        self.say = say or (lambda _m: None)
        self.stop = threading.Event()
        self.stop_reason: str | None = None
        self.summary = WatchSummary()
        if cfg.out is not None:
            cfg.out.mkdir(parents=True, exist_ok=True)
        self.st = Store(cfg.store, create=True)
        self.state = WatchState(self.st, ruleset)
        self.correlation: Correlation | None = None
        self._refreshed_at: datetime | None = None  # trail time of the last correlation
        self._listing: str | None = None  # the local source's listing at the last ingest
        self.incidents: list[Incident] = []

    def close(self) -> None:
        self.state.close()
        self.st.close()

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> WatchSummary:
        if not self.state.ready:
            self.say("building watch state from the store (once)")
            t = time.perf_counter()
            self.state.bootstrap()
            self.say(f"watch state built in {time.perf_counter() - t:.1f} s")
            self._correlate(emit=False)
        replay = self.cfg.replay
        ticks = replay.ticks(timedelta(seconds=self.cfg.interval)) if replay else None
        n = 0
        while not self.stop.is_set():
            clock = None
            if ticks is not None:
                clock = next(ticks, None)
                if clock is None:
                    break
                assert replay is not None
                replay.deliver_until(clock)
            started = time.monotonic()
            n += 1
            report = self.poll(n, clock)
            self.summary.poll_seconds.append(report.seconds)
            self.say(self._describe(report))
            if self.cfg.once or (self.cfg.max_polls and n >= self.cfg.max_polls):
                break
            if replay is not None:
                if replay.done and not report.changes.events:
                    break
                continue
            self.stop.wait(max(0.0, self.cfg.interval - (time.monotonic() - started)))
        self.summary.polls = n
        self.summary.stopped_by = self.stop_reason
        self.finish()
        return self.summary

    def poll(self, n: int, clock: datetime | None = None) -> PollReport:
        t0 = time.perf_counter()
        stats = None
        if self.cfg.source is not None and self._source_changed():
            stats = ingest([self.cfg.source], self.st, s3=self._s3_options())
        changes = self.state.poll()
        if changes.events:
            # Many polls leave many small parts; merged, later polls and queries stay fast.
            for m in compact(self.st):
                self.state.replace_seen(list(m.old), m.new)
        lines_before = self.stream.lines
        for a in changes.added:
            if a.severity in ALERT_SEVERITIES:
                self._emit({"type": "alert", "change": "new", "alert": a.to_dict()}, n, clock)
        correlated = False
        if self._worth_correlating(changes):
            self._correlate(emit=True, n=n, clock=clock)
            self._refreshed_at = changes.last_event
            correlated = True
        self.summary.events += changes.events
        return PollReport(n, time.perf_counter() - t0, stats, changes, correlated,
                          self.stream.lines - lines_before, clock)

    def _source_changed(self) -> bool:
        """A local folder whose names, sizes and mtimes are as at the last poll has nothing
        new: skip ingest (its store lock, recovery scan and engine start) altogether. S3 is
        listed by ingest itself, narrowed to the current days."""
        if is_s3(self.cfg.source or ""):
            return True
        h = hashlib.blake2b(digest_size=16)
        for obj in walk(self.cfg.source or ""):
            h.update(f"{obj.name}\0{obj.version}\n".encode())
        digest = h.hexdigest()
        if digest == self._listing:
            return False
        self._listing = digest
        return True

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop.set()

    # -- decisions -----------------------------------------------------------------------
    def _worth_correlating(self, ch: PollChanges) -> bool:
        if ch.rebuilt:
            return True
        if any(SEVERITY_RANK.get(a.severity, 1) >= 2 for a in (*ch.added, *ch.changed)):
            return True
        if ch.removed:
            return True
        keys = sorted({k for i in self.incidents for k in i.access_keys})
        if not keys or not ch.events or ch.last_event is None:
            return False
        # The attacker keeps using a known key: scope (bytes, buckets) moves on. Without a new
        # alert that only refreshes the incident, so it is done once per ACTIVITY_REFRESH of
        # trail time, not every poll.
        last = self._refreshed_at
        if last is not None and ch.last_event - last < ACTIVITY_REFRESH:
            return False
        (hit,) = self.state.conn.execute(
            "SELECT count(*) > 0 FROM new_ev WHERE access_key_id IN (SELECT unnest(?))",
            [keys]).fetchone()
        return bool(hit)

    def _correlate(self, *, emit: bool, n: int = 0, clock: datetime | None = None) -> None:
        alerts = self.state.alerts()
        with self.state.analysis() as conn:
            corr = correlate(conn, alerts, tenants=self.cfg.tenants,
                             damage=damage_by_key(self.st))
            delivered = self._first_delivery(conn, corr.incidents)
            doc = incidents_document(self._result(alerts, corr, events=None))
            # The Case as of this poll: `investigate` and `respond` read it while we watch.
            write_case(conn, self.st.root, corr, doc)
        before = self.state.incidents_snapshot()
        now = {i.id: i.severity for i in corr.incidents}
        if emit:
            for inc in corr.incidents:
                old = before.get(inc.id)
                if old is None:
                    change = "new"
                elif SEVERITY_RANK.get(inc.severity, 0) > SEVERITY_RANK.get(old, 0):
                    change = "escalated"
                else:
                    continue
                self._emit({"type": "incident", "change": change,
                            "previous_severity": old, "incident": inc.to_dict()}, n, clock)
                if self.summary.first_incident_line is None:
                    self.summary.first_incident_line = {
                        "clock": clock, "at": datetime.now(UTC), "incident": inc.id,
                        "first_seen": inc.first_seen, "severity": inc.severity,
                        "keys": list(inc.access_keys), "delivered": delivered.get(inc.id)}
        self.state.save_incidents_snapshot(now)
        self.correlation = corr
        self.incidents = corr.incidents
        self.summary.incidents = corr.incidents
        self.summary.alerts = len(alerts)
        self._write_current(alerts, corr, doc)

    def _first_delivery(self, conn: Any, incidents: list[Incident]) -> dict[str, datetime]:
        """Replay only: when the file holding each incident's first attacker event was
        delivered (its name says), to measure detection from delivery, not from the event."""
        if self.cfg.replay is None or self.summary.first_incident_line is not None:
            return {}
        out: dict[str, datetime] = {}
        for inc in incidents:
            row = conn.execute(
                "SELECT min(source_object) FROM events WHERE event_time = ? "
                "AND access_key_id IN (SELECT unnest(?))",
                [inc.first_seen, list(inc.access_keys)]).fetchone()
            when = self.cfg.replay.file_of(row[0]) if row and row[0] else None
            if when is not None:
                out[inc.id] = when
        return out

    def _emit(self, record: dict[str, Any], n: int, clock: datetime | None) -> None:
        record["emitted_at"] = _iso(datetime.now(UTC))
        record["poll"] = n
        if clock is not None:
            record["replay_clock"] = _iso(clock)
        self.stream.emit(record)
        self.summary.lines += 1

    def _s3_options(self) -> S3Options | None:
        """Each poll lists only the trail's day folders from the day before the newest event
        on: the listing stays as long as a day or two of the trail, not the whole of it."""
        if self.cfg.source is None or not is_s3(self.cfg.source):
            return self.cfg.s3
        opts = self.cfg.s3 or S3Options()
        newest = self.state.get("newest")
        if newest:
            day = (datetime.fromisoformat(newest) - timedelta(days=1)).date()
            if opts.since is None or opts.since < day:
                opts = dataclasses.replace(opts, since=day)
        return opts

    # -- outputs -------------------------------------------------------------------------
    def _write_current(self, alerts: list[Any], corr: Correlation,
                       document: dict[str, Any]) -> None:
        """incidents.json (and alerts.ndjson) as of this poll, for scripts and `respond`."""
        doc = json_bytes(document, indent=True) + b"\n"
        atomic_write(self.st.root / "incidents.json", doc)
        if self.cfg.out is None:
            return
        atomic_write(self.cfg.out / "incidents.json", doc)
        # Streamed: the ids are read from the book a chunk at a time.
        with atomic_file(self.cfg.out / "alerts.ndjson") as fh:
            for k, a in enumerate(alerts):
                fh.writelines(a.json_pieces(incident_id=corr.alert_incident.get(k)))
                fh.write(b"\n")

    def _result(self, alerts: list[Any], corr: Correlation, events: int | None) -> HuntResult:
        out = self.cfg.out or self.st.root
        return HuntResult(out, self.st.root, events if events is not None else self._events(),
                          corr.incidents, DetectResult(alerts, list(self.ruleset.skipped), {}),
                          corr, None)

    def _events(self) -> int:
        conn = self.st.connect()
        try:
            (n,) = conn.execute("SELECT count(*) FROM events").fetchone()
        finally:
            conn.close()
        return int(n)

    def finish(self) -> None:
        """The full contract outputs, as `hunt` writes them, for the state at the end."""
        if self.cfg.out is None:
            return
        alerts = self.state.alerts()
        with self.state.analysis() as conn:
            (events,) = conn.execute("SELECT count(*) FROM events").fetchall()[0]
            corr = correlate(conn, alerts, tenants=self.cfg.tenants,
                             damage=damage_by_key(self.st))
            result = self._result(alerts, corr, int(events))
            doc = incidents_document(result)
            write_case(conn, self.st.root, corr, doc)
            write_outputs(result, conn, self.st, doc)
        self.incidents = corr.incidents
        self.summary.incidents = corr.incidents
        self.summary.alerts = len(alerts)

    @staticmethod
    def _describe(r: PollReport) -> str:
        ch = r.changes
        parts = [f"poll {r.n}"]
        if r.clock is not None:
            parts.append(f"[{_iso(r.clock)}]")
        parts.append(f"{r.ingest.objects_loaded} new objects" if r.ingest is not None
                     else "source unchanged")
        parts.append(f"{ch.events} events")
        if ch.added or ch.changed:
            parts.append(f"{len(ch.added)} new / {len(ch.changed)} grown alerts")
        if ch.rebuilt:
            parts.append("state rebuilt")
        if r.correlated:
            parts.append("correlated")
        if r.lines:
            parts.append(f"{r.lines} lines out")
        parts.append(f"{r.seconds * 1000:.0f} ms")
        return " · ".join(parts)


def install_signal_handlers(watcher: Watcher) -> Callable[[], None]:
    """First SIGINT/SIGTERM: finish the poll, write outputs, exit. A second one interrupts.
    Returns the function that puts the previous handlers back."""
    def handler(signum: int, _frame: object) -> None:
        if watcher.stop.is_set():
            raise KeyboardInterrupt
        watcher.request_stop(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def _iso(t: datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t.isoformat(timespec="seconds") + "Z"
