"""Ingest benchmark: trailhound ingest against the floor, measured in the same run.

    .venv/bin/python bench/ingest.py [--events 1000000] [--data bench/data/ingest-1m] [--record]

The floor is what any reader must pay: read + gunzip + parse every object with the fastest
JSON parser in the lock (orjson), single process. Ingest runs as a real `trailhound ingest`
subprocess into a fresh store, so its peak RSS is measured alone. Both read the same files,
after one warm-up pass so the page cache favours neither. `--record` appends the figures to
bench/RESULTS.md with the machine and date.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import orjson

from machine_info import record

ROOT = Path(__file__).resolve().parents[1]


def log_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json.gz") if "CloudTrail-Digest" not in p.parts)


def warm(files: list[Path]) -> int:
    total = 0
    for p in files:
        total += len(p.read_bytes())
    return total


def floor(files: list[Path]) -> dict[str, float]:
    t = time.perf_counter()
    events = 0
    raw = 0
    for p in files:
        data = zlib.decompress(p.read_bytes(), 31)
        raw += len(data)
        events += len(orjson.loads(data)["Records"])
    secs = time.perf_counter() - t
    return {"events": events, "seconds": secs, "events_per_s": events / secs,
            "mb_per_s": raw / 1e6 / secs, "raw_mb": raw / 1e6}


def run_ingest(data: Path, store: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "trailhound", "ingest", str(data), "--store", str(store),
           "--format", "json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    secs = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    stats = json.loads(out.stdout)
    return {"events": stats["records_read"], "stored": stats["events_stored"],
            "duplicates": stats["duplicates"], "seconds": secs,
            "events_per_s": stats["records_read"] / secs,
            "mb_per_s": stats["bytes_decoded"] / 1e6 / secs,
            "peak_rss_mb": max(peak_kb, before) / 1024,
            "store_mb": sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 1e6}


def ensure_data(path: Path, events: int) -> None:
    if (path / "truth.json").exists():
        return
    from trailhound.simulate import generate

    days = 7
    print(f"generating ~{events:,} events in {path} ...", flush=True)
    t = time.perf_counter()
    generate(path, scenario="full", days=days, events_per_day=events // days, seed=7,
             overwrite=True)
    print(f"  generated in {time.perf_counter() - t:.0f} s", flush=True)




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()
    data = args.data or ROOT / "bench" / "data" / f"ingest-{args.events // 1000}k"
    ensure_data(data, args.events)
    files = log_files(data / "AWSLogs")
    gz_mb = warm(files) / 1e6
    f = floor(files)
    with tempfile.TemporaryDirectory(prefix="trailhound-bench-") as tmp:
        store = Path(tmp) / "store"
        i = run_ingest(data / "AWSLogs", store)
        shutil.rmtree(store, ignore_errors=True)
    ratio = i["events_per_s"] / f["events_per_s"]
    lines = [
        f"objects: {len(files):,} ({gz_mb:,.0f} MB gzip, {f['raw_mb']:,.0f} MB JSON), "
        f"records: {f['events']:,}",
        f"floor  (gunzip + orjson, 1 process): {f['events_per_s']:>10,.0f} events/s "
        f"{f['mb_per_s']:>7,.0f} MB/s  {f['seconds']:6.1f} s",
        f"ingest (trailhound ingest)         : {i['events_per_s']:>10,.0f} events/s "
        f"{i['mb_per_s']:>7,.0f} MB/s  {i['seconds']:6.1f} s  peak RSS {i['peak_rss_mb']:,.0f} MB"
        f"  store {i['store_mb']:,.0f} MB",
        f"ingest / floor: {ratio:.0%} (target >= 50 %)",
    ]
    print("\n".join(lines))
    if args.record:
        record("ingest", f"python bench/ingest.py --events {args.events}", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
