"""Score `hunt` against the simulator's truth on every scenario and several seeds.

    .venv/bin/python bench/evaluate.py [--seeds 1 2 3] [--days 7] [--events-per-day 30000]

Prints one line per (scenario, seed): incidents and their severity, key/principal/IP recall
and precision, exactness of bytes and objects per bucket, and attacker-event recall and
precision. The simulator is not the judge (held-back corpora are), but a regression here is
a regression there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trailhound.hunt import hunt
from trailhound.simulate import generate

SCENARIOS = ("full", "quiet", "cross-account", "benign", "none")


def score(out: Path, truth: dict[str, Any]) -> dict[str, Any]:
    """Score a hunt's output folder (incidents.json + evidence/, the contract) against
    the simulator's truth."""
    incidents = json.loads((out / "incidents.json").read_text())["incidents"]
    attack = truth.get("attack")
    high = [i for i in incidents if i["severity"] in ("high", "critical")]
    row: dict[str, Any] = {
        "incidents": len(incidents),
        "high_or_critical": len(high),
        "severities": ",".join(i["severity"] for i in incidents),
    }
    if not attack:
        row["ok"] = not high
        return row
    inc = next((i for i in incidents if attack["root_access_key"] in i["access_keys"]), None)
    if inc is None:
        row["ok"] = False
        row["missed"] = True
        return row

    def pr(found: set[str], want: set[str]) -> tuple[float, float]:
        tp = len(found & want)
        return (tp / len(want) if want else 1.0, tp / len(found) if found else 1.0)

    row["severity"] = inc["severity"]
    row["keys_r"], row["keys_p"] = pr(set(inc["access_keys"]), set(attack["access_keys"]))
    row["princ_r"], row["princ_p"] = pr(set(inc["principals"]), set(attack["principals"]))
    row["ips_r"], row["ips_p"] = pr(set(inc["source_ips"]), set(attack["source_ips"]))
    fields = ("name", "objects_read", "get_object_events", "bytes_out")
    want_b = {tuple(b[f] for f in fields) for b in attack["s3_buckets"]}
    got_b = {tuple(b[f] for f in fields) for b in inc["resources"]["s3_buckets"]}
    row["buckets_exact"] = want_b == got_b
    attacker_ids = set()
    with open(out / "evidence" / f"{inc['id']}.ndjson") as fh:
        for line in fh:
            ev = json.loads(line)
            if ev["attribution"] == "attacker":
                attacker_ids.add(ev["event_id"])
    row["events_r"], row["events_p"] = pr(attacker_ids, set(attack["event_ids"]))
    row["stages_missing"] = ",".join(sorted(set(attack["stages"]) - set(inc["stages"])))
    row["ok"] = (inc["severity"] in ("high", "critical") and row["keys_r"] == 1.0
                 and row["keys_p"] == 1.0 and row["princ_r"] == 1.0 and row["princ_p"] == 1.0
                 and row["ips_r"] == 1.0 and row["ips_p"] == 1.0 and row["buckets_exact"]
                 and len(high) == 1)
    return row


def run(scenario: str, seed: int, days: int, per_day: int, work: Path) -> dict[str, Any]:
    sim = work / f"{scenario}-{seed}"
    truth = generate(sim, scenario=scenario, seed=seed, days=days, events_per_day=per_day)
    del truth
    truth_doc = json.loads((sim / "truth.json").read_text())
    tenants = json.loads((sim / "tenants.json").read_text())
    out = work / f"out-{scenario}-{seed}"
    t = time.perf_counter()
    result = hunt([str(sim / "AWSLogs")], out, tenants=tenants)
    row = score(out, truth_doc)
    row.update(scenario=scenario, seed=seed, events=result.events_analysed,
               seconds=round(time.perf_counter() - t, 1))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--events-per-day", type=int, default=20000)
    args = ap.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="trailhound-eval-") as tmp:
        for scenario in args.scenarios:
            for seed in args.seeds:
                row = run(scenario, seed, args.days, args.events_per_day, Path(tmp))
                failures += not row["ok"]
                print(json.dumps(row, default=str), flush=True)
    print(f"{failures} failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
