"""How fast `trailhound simulate` writes CloudTrail: events/s and MB/s at a given size.

    .venv/bin/python bench/simulate.py --days 7 --events-per-day 30000 [--workers N]
        [--out DIR] [--record]

Reports wall-clock throughput (what a user waits for) and CPU time per event summed over the
worker processes (what the generator costs, less sensitive to other load on the machine), plus
the machine it ran on. `--record` appends a dated section to bench/RESULTS.md. The corpus is
written to a temporary folder (on `--out`'s file system when given) and removed afterwards;
file creation cost depends heavily on the file system, so say where it ran.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine_info import describe
from trailhound.simulate import generate

RESULTS = Path(__file__).with_name("RESULTS.md")




def run(days: int, epd: int, workers: int | None, base: Path | None, scenario: str,
        seed: int) -> dict[str, float | int | str]:
    tmp = Path(tempfile.mkdtemp(prefix="th-bench-", dir=base))
    try:
        t0 = time.perf_counter()
        truth = generate(tmp / "sim", scenario=scenario, days=days, events_per_day=epd,
                         seed=seed, workers=workers)
        wall = time.perf_counter() - t0
        return {
            "days": days, "events_per_day": epd, "workers": workers or os.cpu_count() or 1,
            "scenario": scenario, "events": truth.events_total,
            "deliveries": truth.deliveries_total, "files": truth.files,
            "gz_mb": truth.bytes_written / 1e6, "json_mb": truth.raw_bytes / 1e6,
            "wall_s": wall, "events_per_s": truth.events_total / wall,
            "json_mb_per_s": truth.raw_bytes / 1e6 / wall,
            "cpu_s": truth.cpu_seconds,
            "cpu_us_per_event": truth.cpu_seconds / truth.events_total * 1e6,
            "where": str(base or tempfile.gettempdir()),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def render(r: dict[str, float | int | str]) -> str:
    return (f"| {r['days']} x {r['events_per_day']:,} | {r['workers']} | {r['events']:,} | "
            f"{r['files']:,} | {r['gz_mb']:,.1f} / {r['json_mb']:,.0f} | {r['wall_s']:,.1f} | "
            f"**{r['events_per_s']:,.0f}** | {r['json_mb_per_s']:,.0f} | "
            f"{r['cpu_us_per_event']:.1f} | {r['where']} |")


HEADER = ("| days x events/day | workers | events | files | MB gz / JSON | wall s | events/s | "
          "JSON MB/s | CPU µs/event | written to |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--events-per-day", type=int, default=30_000)
    ap.add_argument("--workers", type=int, action="append",
                    help="repeat to compare (default: one run with all cores)")
    ap.add_argument("--scenario", default="full")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="folder on the file system to write to")
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    ap.add_argument("--note", default="", help="one line appended to the recorded section")
    a = ap.parse_args(argv)
    host = describe()
    rows = []
    for w in a.workers or [None]:
        r = run(a.days, a.events_per_day, w, a.out, a.scenario, a.seed)
        rows.append(render(r))
        print(render(r), flush=True)
    if a.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        args = list(argv if argv is not None else sys.argv[1:])
        if "--note" in args:  # the note is printed below, not repeated in the command
            i = args.index("--note")
            del args[i:i + 2]
        section = (f"\n## simulate: generation speed ({stamp})\n\n"
                   f"`{' '.join(['bench/simulate.py', *args])}`, "
                   f"scenario {a.scenario}, seed {a.seed}.\nMachine: {host}.\n"
                   + (f"{a.note}\n" if a.note else "")
                   + f"\n{HEADER}\n" + "\n".join(rows) + "\n")
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in bench/; newest "
                               "last. Each section names its machine.\n")
        with RESULTS.open("a") as fh:
            fh.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
