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
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import ROOT, ensure_data, floor, log_files, warm
from machine_info import describe


def _against_truth(doc: dict, truth: dict, evidence: Path) -> str:
    """The same bar as bench/evaluate.py, on the incidents.json of this run."""
    attack = truth.get("attack")
    if not attack:
        return "no attack planted"
    inc = next((i for i in doc["incidents"]
                if attack["root_access_key"] in i["access_keys"]), None)
    if inc is None:
        return "MISSED"
    want = {(b["name"], b["objects_read"], b["bytes_out"]) for b in attack["s3_buckets"]}
    got = {(b["name"], b["objects_read"], b["bytes_out"])
           for b in inc["resources"]["s3_buckets"]}
    ids = {json.loads(x)["event_id"] for x in
           (evidence / f"{inc['id']}.ndjson").read_text().splitlines()
           if json.loads(x)["attribution"] == "attacker"}
    exact = (set(inc["access_keys"]) == set(attack["access_keys"])
             and set(inc["source_ips"]) == set(attack["source_ips"]) and want == got
             and ids == set(attack["event_ids"]))
    return (f"{inc['severity']}, keys/IPs/buckets/bytes/events "
            f"{'exact' if exact else 'NOT exact'}")


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
        truth = json.loads((data / "truth.json").read_text())
        check = _against_truth(doc, truth, out / "evidence")
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
        with open(ROOT / "bench" / "RESULTS.md", "a") as fh:
            fh.write(f"\n## hunt, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
                     f"Machine: {describe()}. Command: `python bench/hunt.py --events "
                     f"{args.events}`.\n\n```\n" + "\n".join(lines) + "\n```\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
