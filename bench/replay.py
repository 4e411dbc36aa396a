"""Time to detection on a replayed trail: the simulator's full scenario (bench/ingest.py's
corpus), delivered file by file in CloudTrail's delivery order, polled every minute.

    .venv/bin/python bench/replay.py [--events 1000000] [--interval 60s] [--record]

Everything delivered before an hour ahead of the attack arrives with the first poll (a watch
started on a trail that already had history); from there the replay runs minute by minute
for `--polls` polls. The replay prints, on the trail's clock, when the first attacker event
happened, when the file holding it was delivered, and when the first incident line came.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from machine_info import record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--interval", default="60s")
    ap.add_argument("--polls", type=int, default=180)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    from ingest import ensure_data

    data = ROOT / "bench" / "data" / f"ingest-{args.events // 1000}k"
    ensure_data(data, args.events)
    truth = orjson.loads((data / "truth.json").read_bytes())
    start = datetime.fromisoformat(truth["attack"]["window"]["start"].rstrip("Z"))
    begin = (start - timedelta(hours=1)).replace(second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="trailhound-replay-",
                                     dir=ROOT / "bench" / "data") as tmp:
        cmd = [str(ROOT / ".venv" / "bin" / "trailhound"), "watch", "--replay", str(data),
               "--replay-from", begin.isoformat(timespec="minutes"), "--speed", "max",
               "--interval", args.interval, "--max-polls", str(args.polls),
               "--store", f"{tmp}/store", "--out", f"{tmp}/out"]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
    polls = [ln for ln in r.stderr.splitlines() if ln.startswith("poll ")]
    ms = sorted(int(ln.rsplit("·", 1)[1].strip().removesuffix(" ms")) for ln in polls[1:])
    summary = [ln for ln in r.stderr.splitlines()
               if ln.startswith(("replay:", "first attacker", "first incident"))]
    lines = [f"corpus: {data.name} (full scenario, seed 7); attack starts {start}Z; replay "
             f"from {begin}Z, {len(polls)} polls every {args.interval}, {wall:.0f} s wall",
             f"first poll (bulk of the earlier history): {polls[0].rsplit('·', 1)[1].strip()}",
             f"polls after it: median {ms[len(ms) // 2]} ms, max {ms[-1]} ms",
             *summary,
             f"stream lines: {sum(1 for ln in r.stdout.splitlines() if ln.strip())}"]
    print("\n".join(lines))
    if args.record:
        record("watch replay: time to first incident line",
               " ".join(["python", "bench/replay.py", *sys.argv[1:]]), lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
