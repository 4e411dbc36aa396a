"""Hunt benchmark: ingest + detect + correlate + report on ~1 M events, against the floor.

    .venv/bin/python bench/hunt.py [--events 1000000] [--record]

Uses the same simulated corpus and floor as bench/ingest.py (decompress + orjson parse of the
same files, measured in this run). The hunt runs as a real `trailhound hunt` subprocess so its
peak RSS is its own. Target (issue 6): the whole hunt in under 3x the floor's time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate import score
from ingest import ROOT, ensure_data, floor, log_files, warm
from machine_info import record


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    data = args.data or ROOT / "bench" / "data" / f"ingest-{args.events // 1000}k"
    ensure_data(data, args.events)
    files = log_files(data / "AWSLogs")
    warm(files)
    f = floor(files)
    with tempfile.TemporaryDirectory(prefix="trailhound-hunt-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "trailhound", "hunt", str(data / "AWSLogs"), "--out",
               str(out), "--tenants", str(data / "tenants.json")]
        t = time.perf_counter()
        env = dict(os.environ, COLUMNS="300")  # one summary line, not wrapped at 80
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        secs = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        doc = json.loads((out / "incidents.json").read_text())
        stages = proc.stdout.splitlines()[0] if proc.stdout else ""
        row = score(out, json.loads((data / "truth.json").read_text()))
        exact = row["ok"] and row.get("events_r") == row.get("events_p") == 1.0
        check = (f"{row.get('severity', 'MISSED')}, {'exact' if exact else 'NOT exact'} "
                 "(keys, principals, IPs, buckets/objects/bytes, attacker events)")
    lines = [
        f"records: {f['events']:,}",
        f"floor (gunzip + orjson): {f['seconds']:6.1f} s  {f['events_per_s']:>10,.0f} events/s",
        f"hunt  (end to end)     : {secs:6.1f} s  {f['events'] / secs:>10,.0f} events/s  "
        f"peak RSS {peak:,.0f} MB  incidents {len(doc['incidents'])}",
        f"  {stages}",
        f"  against truth: {check}",
        f"hunt / floor: {secs / f['seconds']:.1f}x (target < 3x)",
    ]
    print("\n".join(lines))
    if args.record:
        record("hunt", f"python bench/hunt.py --events {args.events}", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
