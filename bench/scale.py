"""Scale benchmark: DuckDB and Spark (local[2]) on 1 M, 5 M and 10 M events, ingest and hunt.

    .venv/bin/python bench/scale.py [--sizes 1000000 5000000 10000000]
                                    [--engines duckdb spark] [--spark-master local[2]] [--record]

Each step is a real `trailhound` subprocess (`ingest SOURCE --store`, then `hunt --store`, which
detects, correlates and reports over the stored events), so what is measured is what a user
runs. Peak RSS is the peak of the sum over the whole process tree, sampled every 0.2 s: for
Spark that is the Python driver, the JVM and its Python workers; for DuckDB one process.
Store size is the bytes under the store folder. Spark gets what a Spark user would give it on
this machine, through the usual channel: a spark-defaults.conf (`--spark-driver-memory`,
default 4g; local mode runs the executors inside the driver). Corpora come from
`bench/ingest.py`'s cache (`bench/data/ingest-<N>k`, simulated with the full attack). The
DuckDB stores are kept in `bench/data/store-duckdb-<N>k` for other benchmarks (the watch
benchmark reuses them; one already there is left as it is); Spark's are removed after
measuring. `--record` appends the table
to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ingest import ensure_data
from machine_info import record

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"


@dataclass
class Run:
    engine: str
    step: str
    events: int
    seconds: float
    peak_rss_mb: float
    store_mb: float
    note: str = ""

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root: int) -> int:
    kids = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_kb(pid)
        todo.extend(kids.get(pid, []))
    return total


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS of the process tree in MB, stdout) of one command."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    secs = time.perf_counter() - t
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-2000:]}")
    return secs, peak[0] / 1024, out


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def engine_args(engine: str, master: str) -> list[str]:
    return [] if engine == "duckdb" else ["--engine", "spark", "--spark-master", master]


def spark_conf_dir(driver_memory: str) -> Path:
    d = DATA / "spark-conf"
    d.mkdir(parents=True, exist_ok=True)
    (d / "spark-defaults.conf").write_text(f"spark.driver.memory {driver_memory}\n"
                                           "spark.ui.enabled false\n")
    return d


def run_size(events: int, engines: list[str], master: str, conf_dir: Path) -> list[Run]:
    data = DATA / f"ingest-{events // 1000}k"
    ensure_data(data, events)
    th = [sys.executable, "-m", "trailhound"]
    runs: list[Run] = []
    for engine in engines:
        env = {"SPARK_CONF_DIR": str(conf_dir)} if engine == "spark" else {}
        store = DATA / f"scale-{engine}-{events // 1000}k"
        out = DATA / f"scale-hunt-{engine}-{events // 1000}k"
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        secs, rss, stdout = measured([*th, "ingest", str(data / "AWSLogs"), "--store",
                                      str(store), "--format", "json",
                                      *engine_args(engine, master)], env)
        stats = json.loads(stdout)
        size = du_mb(store)
        runs.append(Run(engine, "ingest", int(stats["records_read"]), secs, rss, size,
                        f"{stats['events_stored']:,} stored"))
        print(f"  {engine} ingest {events:,}: {secs:.0f} s, {rss:,.0f} MB", flush=True)
        secs, rss, _ = measured([*th, "hunt", "--store", str(store), "--out", str(out),
                                 "--tenants", str(data / "tenants.json"),
                                 *engine_args(engine, master)], env)
        doc = json.loads((out / "incidents.json").read_text())
        sev = ",".join(i["severity"] for i in doc["incidents"]) or "none"
        runs.append(Run(engine, "hunt", int(doc["events_analysed"]), secs, rss, size,
                        f"{len(doc['incidents'])} incident(s) ({sev})"))
        print(f"  {engine} hunt {events:,}: {secs:.0f} s, {rss:,.0f} MB", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        keep = DATA / f"store-duckdb-{events // 1000}k"
        if engine == "duckdb" and not (keep / "manifest.sqlite").exists():
            store.rename(keep)  # for the watch benchmark (bench/watch.py's cache)
        else:
            # Spark's store, or a DuckDB store the cache already holds (the same ingest of the
            # same corpus; another benchmark may be reading it, so it is left alone).
            shutil.rmtree(store, ignore_errors=True)
    return runs


def table(runs: list[Run]) -> list[str]:
    lines = [f"{'engine':<7} {'step':<7} {'events':>11} {'seconds':>8} {'events/s':>10} "
             f"{'peak RSS MB':>12} {'store MB':>9}  result"]
    for r in runs:
        lines.append(f"{r.engine:<7} {r.step:<7} {r.events:>11,} {r.seconds:>8.1f} "
                     f"{r.events_per_s:>10,.0f} {r.peak_rss_mb:>12,.0f} {r.store_mb:>9,.0f}  "
                     f"{r.note}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 10_000_000])
    ap.add_argument("--engines", nargs="+", default=["duckdb", "spark"],
                    choices=["duckdb", "spark"])
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--spark-driver-memory", default="4g")
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()
    runs: list[Run] = []
    for n in args.sizes:
        print(f"{n:,} events", flush=True)
        runs += run_size(n, args.engines, args.spark_master,
                         spark_conf_dir(args.spark_driver_memory))
    lines = table(runs)
    print("\n".join(lines))
    if args.record:
        cmd = ("python bench/scale.py --sizes " + " ".join(str(s) for s in args.sizes)
               + " --engines " + " ".join(args.engines) + f" --spark-master {args.spark_master}"
               + f" --spark-driver-memory {args.spark_driver_memory}")
        record("scale (DuckDB and Spark)", cmd, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
