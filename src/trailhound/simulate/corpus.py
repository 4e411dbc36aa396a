"""`generate()`: the whole simulated corpus, hour by hour, on every core.

The unit of work is one hour of the organisation. Each unit rebuilds the organisation from the
seed (once per process), produces the hour's benign traffic with generators seeded for that
hour, adds the scripted events (attack and look-alikes, planned once up front in the parent)
that fall in it, and writes its files. Nothing depends on which process runs a unit or in what
order, so the files are byte-identical for any number of workers, and memory stays at one hour
of traffic per process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from trailhound.errors import UsageError
from trailhound.simulate import attacks, benign, ci, lookalikes, people, scanner, writer
from trailhound.simulate.ctx import Ctx, Event
from trailhound.simulate.org import build, stable_rng
from trailhound.simulate.records import iso
from trailhound.simulate.truth import Truth, attack_section

DEFAULT_EVENTS_PER_DAY = 30_000
DEFAULT_START = date(2026, 3, 16)
MAX_EVENTS = 50_000_000

GENERATORS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("web", benign.web),
    ("backup", benign.backup),
    ("services", benign.services),
    ("cron", benign.cron),
    ("people", people.people),
    ("ci", ci.ci),
    ("scanner", scanner.scanner),
)

Progress = Callable[[int, int], None]

_STATE: dict[str, Any] = {}


def _setup(params: tuple[int, str, date, int, int]) -> tuple[Ctx, tuple[str, int, str] | None]:
    seed, scenario, start, days, epd = params
    org = build(seed, scenario, start, days, epd)
    rotation = lookalikes.schedule(org)
    return Ctx(org), rotation


def _init_worker(params: tuple[int, str, date, int, int], out: str, level: int) -> None:
    ctx, _ = _setup(params)
    _STATE.update(ctx=ctx, out=Path(out), level=level)


def _unit(task: tuple[int, list[tuple[int, dict, bool]], str | None]) -> dict[str, Any]:
    """Produce and write one hour; return counts and what the stolen key legitimately did."""
    i, scripted, root_key = task
    cpu0 = time.process_time()
    ctx: Ctx = _STATE["ctx"]
    org = ctx.org
    hour_t = org.t0 + i * 3600
    events: list[Event] = []
    for name, fn in GENERATORS:
        fn(ctx, hour_t, stable_rng("hour", org.seed, i, name), events)
    if hour_t + 3600 >= org.end:
        # Bursts that start in the last hour stop at the end of the corpus.
        events = [e for e in events if e[0] < org.end]
    ips: set[str] = set()
    uas: set[str] = set()
    for t, rec, is_attack in scripted:
        events.append((t, rec))
        if root_key and not is_attack and rec["userIdentity"].get("accessKeyId") == root_key:
            ips.add(rec["sourceIPAddress"])
            uas.add(rec["userAgent"])
    if root_key:
        for _t, rec in events[: len(events) - len(scripted)]:
            if rec["userIdentity"].get("accessKeyId") == root_key:
                ips.add(rec["sourceIPAddress"])
                uas.add(rec["userAgent"])
    st = writer.deliver(_STATE["out"], events, stable_rng("write", org.seed, i),
                        trail=org.trail_name, trail_bucket=org.trail_bucket,
                        home_region=org.home_region,
                        digest_t=hour_t + 3600 + 300 + (org.seed + i) % 600,
                        level=_STATE["level"])
    return {"records": st.records, "deliveries": st.deliveries, "files": st.files,
            "bytes": st.bytes_written, "raw": st.raw_bytes, "dups": st.duplicate_ids,
            "ips": sorted(ips), "uas": sorted(uas), "cpu": time.process_time() - cpu0}


def _check(out: Path, scenario: str, days: int, events_per_day: int, seed: int,
           overwrite: bool) -> None:
    if scenario not in attacks.SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; choose one of "
                         + ", ".join(attacks.SCENARIOS))
    if not 1 <= days <= 3660:
        raise UsageError(f"--days must be between 1 and 3660, not {days}")
    if not events_per_day >= 500:
        raise UsageError(f"--events-per-day must be at least 500, not {events_per_day}")
    if days * events_per_day > MAX_EVENTS:
        raise UsageError(f"{days * events_per_day:,} events is more than the "
                         f"{MAX_EVENTS:,} this simulator writes in one run")
    if seed < 0:
        raise UsageError(f"--seed must be zero or positive, not {seed}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if (out / "AWSLogs").exists() or (out / "truth.json").exists():
        if not overwrite:
            raise UsageError(f"{out}: already holds a simulation; choose an empty folder")
        shutil.rmtree(out / "AWSLogs", ignore_errors=True)
        for f in ("truth.json", "tenants.json"):
            (out / f).unlink(missing_ok=True)


def generate(out: Path, *, scenario: str = "full", days: int = 7,
             events_per_day: int = DEFAULT_EVENTS_PER_DAY, seed: int = 1,
             start: date = DEFAULT_START, workers: int | None = None,
             compress_level: int = 1, overwrite: bool = False,
             progress: Progress | None = None) -> Truth:
    """Write a labelled CloudTrail corpus in AWS's S3 layout under `out`, plus `truth.json`
    and `tenants.json`. Same arguments -> byte-identical files, whatever `workers` is."""
    out = Path(out)
    _check(out, scenario, days, events_per_day, seed, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    params = (seed, scenario, start, days, events_per_day)
    ctx, rotation = _setup(params)
    org = ctx.org
    attack = attacks.build(ctx)
    look_events, look_labels = lookalikes.build(ctx, rotation)
    units = days * 24
    scripted: list[list[tuple[int, dict, bool]]] = [[] for _ in range(units)]

    def place(t: int, rec: dict, is_attack: bool) -> None:
        scripted[min(units - 1, max(0, (t - org.t0) // 3600))].append((t, rec, is_attack))

    for t, rec in look_events:
        place(t, rec, False)
    if attack:
        for t, rec in attack.events:
            place(t, rec, True)
    root = attack.root_access_key if attack else None
    tasks = [(i, scripted[i], root) for i in range(units)]
    n_workers = max(1, min(workers or os.cpu_count() or 1, units))
    results: list[dict[str, Any]] = []
    if n_workers == 1:
        _init_worker(params, str(out), compress_level)
        for i, task in enumerate(tasks):
            results.append(_unit(task))
            if progress:
                progress(i + 1, units)
    else:
        mp_ctx = mp.get_context("forkserver" if os.name == "posix" else "spawn")
        with mp_ctx.Pool(n_workers, initializer=_init_worker,
                         initargs=(params, str(out), compress_level)) as pool:
            for i, res in enumerate(pool.imap(_unit, tasks, chunksize=1)):
                results.append(res)
                if progress:
                    progress(i + 1, units)

    tenants = org.tenant_of()
    legit_ips = {ip for r in results for ip in r["ips"]}
    legit_uas = {ua for r in results for ua in r["uas"]}
    attack_json = None
    if attack:
        attack_json = attack_section(
            [r for _, r in attack.events], attack.stage_of, root_access_key=root or "",
            access_keys=attack.access_keys, principals=attack.principals,
            techniques=attack.techniques, tenants=tenants, legit_ips=legit_ips,
            legit_uas=legit_uas)
    end = datetime(start.year, start.month, start.day) + timedelta(days=days)
    truth = Truth(
        scenario=scenario, seed=seed, start=iso(org.t0), end=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        accounts=dict(org.accounts),
        events_total=sum(r["records"] for r in results),
        deliveries_total=sum(r["deliveries"] for r in results),
        duplicate_event_ids=[d for r in results for d in r["dups"]],
        tenants=tenants, attack=attack_json, lookalikes=look_labels,
        files=sum(r["files"] for r in results), bytes_written=sum(r["bytes"] for r in results),
        raw_bytes=sum(r["raw"] for r in results), cpu_seconds=sum(r["cpu"] for r in results))
    (out / "truth.json").write_bytes(orjson.dumps(truth.as_dict(), option=orjson.OPT_INDENT_2))
    (out / "tenants.json").write_bytes(orjson.dumps(tenants, option=orjson.OPT_INDENT_2
                                                    | orjson.OPT_SORT_KEYS))
    return truth
