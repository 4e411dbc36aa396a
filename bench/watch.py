"""Watch benchmark: the cost of one poll, with nothing new and with 5 minutes of new trail,
on a store already holding N events (cost must not grow with the store).

    .venv/bin/python bench/watch.py [--events 1000000] [--polls 24] [--record]

The store is the simulated organisation's week (`bench/ingest.py`'s corpus, seed 7), ingested
once and cached in bench/data/store-duckdb-<N>k; each run works on a copy. The new trail is
the same organisation's day after at the simulator's default rate (30,000 events/day, benign),
delivered file by file as CloudTrail would, one poll per 5 minutes of trail time. The floor
is gunzip + orjson of the same files (what any reader pays), measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import date
from pathlib import Path

import orjson

from machine_info import record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def ensure_store(events: int) -> Path:
    from ingest import ensure_data

    data = ROOT / "bench" / "data" / f"ingest-{events // 1000}k"
    ensure_data(data, events)
    store = ROOT / "bench" / "data" / f"store-duckdb-{events // 1000}k"
    if not (store / "manifest.sqlite").exists():
        print(f"ingesting {data} into {store} (once) ...", flush=True)
        subprocess.run([str(ROOT / ".venv" / "bin" / "trailhound"), "ingest", str(data),
                        "--store", str(store), "--format", "json"], check=True,
                       stdout=subprocess.DEVNULL)
    return store


def ensure_tail() -> Path:
    """The organisation's trail after the store's (the week's deliveries run into 03-23)."""
    from trailhound.simulate import generate

    tail = ROOT / "bench" / "data" / "watch-tail-2026-03-24"
    if not (tail / "truth.json").exists():
        print(f"generating the next day's trail in {tail} ...", flush=True)
        generate(tail, scenario="benign", days=1, seed=7, start=date(2026, 3, 24),
                 overwrite=True)
    return tail


def floor_seconds(files: list[Path]) -> float:
    t = time.perf_counter()
    for f in files:
        orjson.loads(zlib.decompress(f.read_bytes(), 47))
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--polls", type=int, default=24, help="5-minute polls to measure")
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()

    from trailhound.rules import load_rules
    from trailhound.store.engine import Store
    from trailhound.watch import Replay, Stream, WatchConfig, Watcher, WatchState

    cached = ensure_store(args.events)
    tail = ensure_tail()
    ruleset = load_rules([], include_sigma=True)
    scratch = ROOT / "bench" / "data"
    with tempfile.TemporaryDirectory(prefix="trailhound-watch-bench-", dir=scratch) as tmp:
        store = Path(tmp) / "store"
        shutil.copytree(cached, store, ignore=shutil.ignore_patterns("watch", "tmp"))
        st = Store(store)
        conn = st.connect()
        (in_store,) = conn.execute("SELECT count(*) FROM events").fetchone()
        conn.close()

        t = time.perf_counter()
        state = WatchState(st, ruleset)
        state.bootstrap()
        state.close()
        st.close()
        bootstrap = time.perf_counter() - t

        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        # Nothing new: list an empty inbox, find no new parts, do nothing.
        cfg = WatchConfig(store=store, source=str(inbox), interval=0, max_polls=20)
        w = Watcher(cfg, ruleset, Stream(None, stdout=io.StringIO()))
        w.run()
        w.close()
        empty = w.summary.poll_seconds

        # 5 minutes of trail per poll.
        rep = Replay(tail, inbox, 0.0)
        cfg = WatchConfig(store=store, source=str(inbox), interval=300, replay=rep,
                          max_polls=args.polls)
        w = Watcher(cfg, ruleset, Stream(None, stdout=io.StringIO()))
        w.run()
        w.close()
        # The first tick delivers only the first file, and compacts the small parts the
        # bulk ingest left (once): reported on its own.
        first, polls = w.summary.poll_seconds[0], w.summary.poll_seconds[1:]
        delivered = [p for _, p in rep.schedule[:rep.delivered]]
        events_new = w.summary.events
        floor = floor_seconds(delivered)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    per_poll_events = events_new / max(1, len(w.summary.poll_seconds))
    lines = [
        f"store: {in_store:,} events; new trail: {events_new:,} events in "
        f"{len(delivered)} files over {len(w.summary.poll_seconds)} polls "
        f"(~{per_poll_events:.0f} events per 5-minute poll)",
        f"state bootstrap (once, from the store): {bootstrap:.1f} s",
        f"poll, nothing new: median {statistics.median(empty) * 1000:.1f} ms, "
        f"max {max(empty) * 1000:.1f} ms ({len(empty)} polls)",
        f"first poll (one file, and the compaction of the bulk ingest's small parts): "
        f"{first:.1f} s",
        f"poll, 5 min of trail: median {statistics.median(polls) * 1000:.0f} ms, "
        f"p90 {sorted(polls)[int(0.9 * (len(polls) - 1))] * 1000:.0f} ms, "
        f"max {max(polls) * 1000:.0f} ms",
        f"  = {per_poll_events / statistics.median(polls):,.0f} events/s; floor (gunzip + "
        f"orjson of the same files) {floor / max(1, len(polls)) * 1000:.1f} ms per poll",
        f"peak RSS (bootstrap included): {peak:.0f} MB",
    ]
    print("\n".join(lines))
    if args.record:
        record(f"watch poll cost, store of {in_store / 1e6:.0f} M events",
               " ".join(["python", "bench/watch.py", *sys.argv[1:]]), lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
