"""The `trailhound` command. Thin: parse arguments, call a stage, render its result.

Exit codes (CONTRACT.md): 0 the command ran; 2 usage or input error, with one line on stderr;
1 only when `--fail-on SEVERITY` is given and an incident at or above it was found.
`--debug` (or TRAILHOUND_DEBUG=1) shows the traceback of an expected error too.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from trailhound import __version__
from trailhound.errors import TrailhoundError, UsageError
from trailhound.termsafe import json_bytes, rich_safe, safe

app = typer.Typer(
    name="trailhound",
    help="Find a stolen cloud key in AWS CloudTrail, follow everything it did, and tell "
    "responders what was taken and what to shut.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

_DEBUG = {"on": os.environ.get("TRAILHOUND_DEBUG") == "1"}


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


class EngineName(StrEnum):
    """`--engine` of ingest, detect and hunt (see docs/scale.md)."""

    duckdb = "duckdb"
    spark = "spark"


_ENGINE_OPT = typer.Option(
    "--engine", help="duckdb (embedded, default) or spark (needs the spark extra and Java 17+; "
    "configured like any Spark job: spark-defaults.conf, PYSPARK_SUBMIT_ARGS).")
_SPARK_MASTER_OPT = typer.Option(
    "--spark-master", help="--engine spark: master URL (local[4], yarn, spark://host:7077, "
    "k8s://...); default: Spark's own configuration, else local[*].")


def _engine(engine: EngineName, spark_master: str | None):  # type: ignore[no-untyped-def]
    from trailhound.store.engines import open_engine

    return open_engine(engine.value, spark_master=spark_master)


def _version(value: bool) -> None:
    if value:
        out.print(f"trailhound {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    if debug:
        _DEBUG["on"] = True


def show_progress() -> bool:
    """Progress bars only where a person watches: stderr is a terminal and not in CI."""
    return err.is_terminal and not os.environ.get("CI")


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(
        help="Files or folders (.json, .json.gz, NDJSON, AWS's S3 layout), or "
             "s3://bucket/prefix.", metavar="SOURCE...")],
    store: Annotated[Path, typer.Option("--store", help="Store folder (created if absent).")],
    fmt: Annotated[TableOrJson, typer.Option("--format", help="Summary as a table or JSON.")
                   ] = TableOrJson.table,
    max_object_mb: Annotated[int, typer.Option(
        "--max-object-mb", min=1, help="Refuse objects that decompress past this size.")] = 1024,
    batch_mb: Annotated[int | None, typer.Option(
        "--batch-mb", min=1, help="Per batch: decoded JSON (duckdb, default 96) or stored "
        "objects (spark, default 512).")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="s3:// sources: AWS profile, as in the AWS CLI.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(
        "--endpoint-url", help="s3:// sources: S3 endpoint (MinIO, moto, a VPC endpoint).")
                            ] = None,
    account: Annotated[list[str] | None, typer.Option(
        "--account", help="s3:// sources: only this account's folders. Repeatable.")] = None,
    region: Annotated[list[str] | None, typer.Option(
        "--region", help="s3:// sources: only this trail region's folders. Repeatable.")
                      ] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="s3:// sources: first day folder to read (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="s3:// sources: last day folder to read (YYYY-MM-DD, UTC).")] = None,
    s3_workers: Annotated[int, typer.Option(
        "--s3-workers", min=1, max=64, help="s3:// sources: parallel downloads.")] = 8,
    engine: Annotated[EngineName, _ENGINE_OPT] = EngineName.duckdb,
    spark_master: Annotated[str | None, _SPARK_MASTER_OPT] = None,
    repair: Annotated[bool, typer.Option(
        "--repair", help="First move store parts that cannot be read to quarantine/parts/ "
        "and read their log objects again (give the same sources).")] = False,
) -> None:
    """Read CloudTrail into the columnar store. Idempotent and resumable: re-running reads
    only new objects and never stores an eventID twice. SOURCE may be s3://bucket/prefix
    (with --engine spark: any URI Spark reads, s3a://, hdfs://, abfs://, gs://, with globs)."""
    from trailhound.display import render_ingest_summary
    from trailhound.store.engine import Store

    s3 = _s3_options(list(sources), profile, endpoint_url, account, region, since, until,
                     s3_workers)
    eng = _engine(engine, spark_master)
    options = {"max_object_bytes": max_object_mb * 1024 * 1024, "s3": s3}
    if repair:
        if engine is not EngineName.duckdb:
            raise UsageError("--repair runs with the DuckDB engine (the store is the same)")
        options["repair"] = True
    if batch_mb is not None:
        options["batch_bytes"] = batch_mb * 1024 * 1024
    st = Store(store, create=True)
    try:
        stats = _with_progress(
            "ingest", lambda cb: eng.ingest(list(sources), st, progress=cb, **options))
    finally:
        st.close()
    if fmt is TableOrJson.json:
        sys.stdout.write(json_bytes(stats.as_dict(), indent=True).decode() + "\n")
    else:
        render_ingest_summary(out, stats, store)


def _s3_options(sources: list[str], profile: str | None, endpoint_url: str | None,
                accounts: list[str] | None, regions: list[str] | None, since: str | None,
                until: str | None, workers: int):  # type: ignore[no-untyped-def]
    """The S3 flags as one `S3Options`. They narrow S3 listings only, so giving them without
    an s3:// source is refused rather than silently ignored (the user would believe the
    local read was narrowed)."""
    from datetime import date

    from trailhound.sources.base import is_s3
    from trailhound.sources.s3 import S3Options

    given = [flag for flag, v in (("--profile", profile), ("--endpoint-url", endpoint_url),
                                  ("--account", accounts), ("--region", regions),
                                  ("--since", since), ("--until", until)) if v]
    if not any(is_s3(s) for s in sources):
        if given:
            raise UsageError(f"{given[0]} applies to s3:// sources only")
        return None

    def day(value: str | None, flag: str) -> date | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise UsageError(f"{flag}: expected a date YYYY-MM-DD, got {value!r}") from None

    return S3Options(profile=profile, endpoint_url=endpoint_url,
                     accounts=tuple(accounts or ()), regions=tuple(regions or ()),
                     since=day(since, "--since"), until=day(until, "--until"),
                     max_workers=workers)


@app.command()
def simulate(
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Folder to write (AWS's S3 layout, truth.json, tenants.json).")] = None,
    verify_dir: Annotated[Path | None, typer.Option(
        "--verify", help="Check a simulated folder instead of writing one.")] = None,
    scenario: Annotated[str, typer.Option(
        "--scenario", help="full, quiet, cross-account, benign or none.")] = "full",
    days: Annotated[int, typer.Option("--days", help="Days of traffic.")] = 7,
    events_per_day: Annotated[int | None, typer.Option(
        "--events-per-day", help="Benign volume per day (default 30,000).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 1,
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")
                     ] = "2026-03-16",
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Processes (default: one per core).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace a simulation already in --out.")] = False,
) -> None:
    """Write labelled CloudTrail of a simulated web-hosting organisation, optionally with a
    stolen-key attack, exactly as AWS delivers it; or check such a folder with --verify."""
    import time
    from datetime import date

    from trailhound import simulate as sim

    if verify_dir is not None:
        if out_dir is not None:
            raise UsageError("give either --out or --verify, not both")
        if not verify_dir.is_dir():
            raise UsageError(f"{verify_dir}: no such folder")
        problems = sim.verify(verify_dir)
        for p in problems:
            out.print(safe(p))
        if problems:
            raise UsageError(f"{verify_dir}: {len(problems)} problems")
        out.print(f"{safe(str(verify_dir))}: ok")
        return
    if out_dir is None:
        raise UsageError("--out DIR is required (or --verify DIR)")
    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise UsageError(f"--start must be YYYY-MM-DD, not {start!r}") from None
    epd = events_per_day if events_per_day is not None else sim.DEFAULT_EVENTS_PER_DAY
    t0 = time.perf_counter()

    def run_it(cb):  # type: ignore[no-untyped-def]
        return sim.generate(out_dir, scenario=scenario, days=days, events_per_day=epd,
                            seed=seed, start=first, workers=workers, overwrite=overwrite,
                            progress=cb)

    if show_progress():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("simulate"), BarColumn(), TextColumn("{task.completed}/"
                      "{task.total} hours"), TimeElapsedColumn(), console=err,
                      transient=True) as prog:
            task = prog.add_task("simulate", total=days * 24)
            truth = run_it(lambda done, total: prog.update(task, completed=done))
    else:
        truth = run_it(None)
    dt = time.perf_counter() - t0
    attack = truth.attack
    out.print(f"[bold]{truth.events_total:,}[/] events ({truth.deliveries_total:,} deliveries, "
              f"{len(truth.duplicate_event_ids):,} duplicates) in {truth.files:,} files, "
              f"{truth.bytes_written / 1e6:,.1f} MB, {dt:.1f} s "
              f"({truth.events_total / max(dt, 1e-9):,.0f} events/s)")
    out.print(f"scenario {truth.scenario}, seed {truth.seed}, {truth.start} .. {truth.end}, "
              f"{len(truth.accounts)} accounts, {len(truth.tenants)} tenant buckets, "
              f"{len(truth.lookalikes)} look-alikes")
    if attack:
        out.print(f"attack: {len(attack['event_ids']):,} events, stages "
                  f"{', '.join(attack['stages'])}; root key {attack['root_access_key']}; "
                  f"{sum(b['bytes_out'] for b in attack['s3_buckets']) / 1e9:,.2f} GB read "
                  f"from {len(attack['s3_buckets'])} buckets")
    out.print(f"truth: {safe(str(out_dir / 'truth.json'))}")


def _with_progress(label: str, run):  # type: ignore[no-untyped-def]
    if not show_progress():
        return run(None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True) as prog:
        task = prog.add_task(label, total=None)

        def cb(stats) -> None:  # type: ignore[no-untyped-def]
            prog.update(task, description=(
                f"{label}: {stats.objects_loaded + stats.objects_quarantined} objects, "
                f"{stats.events_stored:,} events, {stats.bytes_read / 1e6:,.0f} MB"))

        return run(cb)


class AlertFormat(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"


class SqlDialect(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    trino = "trino"
    athena = "athena"


_RULES_OPT = typer.Option("--rules", envvar="TRAILHOUND_RULES",
                          help="Extra rule file or folder (Sigma or trailhound rules, told "
                          "apart by content), added to the built-in and bundled SigmaHQ "
                          "rules. Repeatable; TRAILHOUND_RULES takes a list separated by "
                          f"'{os.pathsep}'.")
_NO_SIGMA_OPT = typer.Option("--no-sigma", help="Do not load the SigmaHQ AWS rules.")
_OVERRIDES_OPT = typer.Option("--overrides", help="YAML tuning: disable, level, group_by, "
                              "window, filters per rule id.")


def _check_rule_paths(rules: list[Path] | None) -> None:
    for p in rules or []:
        if not p.exists():
            raise UsageError(f"--rules {p}: no such file or folder")


def _load_ruleset(rules: list[Path] | None, no_sigma: bool, overrides: Path | None):  # type: ignore[no-untyped-def]
    from trailhound.rules import load_rules

    _check_rule_paths(rules)
    if overrides is not None and not overrides.is_file():
        raise UsageError(f"--overrides {overrides}: no such file")
    return load_rules(list(rules or []), include_sigma=not no_sigma, overrides=overrides)


def _parse_time(value: str | None, flag: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag}: expected an ISO-8601 time, got {value!r}") from None


@app.command()
def detect(
    store: Annotated[Path, typer.Option("--store", help="Store folder made by ingest.")],
    rules: Annotated[list[Path] | None, _RULES_OPT] = None,
    fmt: Annotated[AlertFormat, typer.Option("--format", help="table, json or ndjson.")
                   ] = AlertFormat.table,
    overrides: Annotated[Path | None, _OVERRIDES_OPT] = None,
    no_sigma: Annotated[bool, _NO_SIGMA_OPT] = False,
    since: Annotated[str | None, typer.Option("--since", help="ISO-8601 start (UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO-8601 end (UTC).")] = None,
    engine: Annotated[EngineName, _ENGINE_OPT] = EngineName.duckdb,
    spark_master: Annotated[str | None, _SPARK_MASTER_OPT] = None,
) -> None:
    """Run the built-in, SigmaHQ and extra rules over the store; print grouped alerts
    (rule x key x window, with counts and event ids) and every rule that was skipped."""
    from trailhound.rules.render import alerts_ndjson, detect_json, detect_table
    from trailhound.store.engine import Store

    ruleset = _load_ruleset(rules, no_sigma, overrides)
    st = Store(store)
    try:
        eng = _engine(engine, spark_master)
        conn = eng.connect(st)
        result = eng.detect(conn, ruleset, since=_parse_time(since, "--since"),
                            until=_parse_time(until, "--until"))
    finally:
        st.close()
    try:
        if fmt is AlertFormat.ndjson:
            alerts_ndjson(result.alerts)
            for rid, why in result.skipped:
                sys.stderr.write(f"trailhound: skipped rule {safe(rid)}: {safe(why)}\n")
        elif fmt is AlertFormat.json:
            detect_json(result)
        else:
            detect_table(out, result)
    finally:
        # The alerts' event ids are read from the engine while they are written out.
        result.release()
        conn.close()


class FailOn(StrEnum):
    """The severities `--fail-on` accepts (hunt, audit-ci): one list for every command."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


@app.command()
def hunt(
    sources: Annotated[list[str] | None, typer.Argument(
        help="Log files or folders to ingest first (optional with --store).",
        metavar="[SOURCE]...")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (incidents.json, "
                                          "alerts.ndjson, evidence/, report.md).")] = Path("."),
    store: Annotated[Path | None, typer.Option("--store", help="Store folder "
                                               "(default: <out>/store).")] = None,
    rules: Annotated[list[Path] | None, _RULES_OPT] = None,
    overrides: Annotated[Path | None, _OVERRIDES_OPT] = None,
    no_sigma: Annotated[bool, _NO_SIGMA_OPT] = False,
    tenants: Annotated[Path | None, typer.Option(
        "--tenants", help="JSON/YAML map of bucket name to tenant (client).")] = None,
    engine: Annotated[EngineName, _ENGINE_OPT] = EngineName.duckdb,
    spark_master: Annotated[str | None, _SPARK_MASTER_OPT] = None,
    fail_on: Annotated[FailOn | None, typer.Option(
        "--fail-on", help="Exit 1 when an incident at or above this severity is found.")
                       ] = None,
    ci_profile: Annotated[list[Path] | None, typer.Option(
        "--ci-profile", help="Credential profiles from `audit-ci --profile-out`: a CI key "
        "used without its pipeline's user-agent markers is flagged. Repeatable.")] = None,
) -> None:
    """Ingest (when sources are given), detect, correlate alerts into incidents along key
    lineage, and write the report. Exit 0 whatever it finds, unless --fail-on."""
    from trailhound.hunt import SEVERITY_ORDER, load_tenants
    from trailhound.hunt import hunt as run_hunt

    if not sources and store is None:
        raise UsageError("give log sources to ingest, or --store with an existing store")
    _check_rule_paths(rules)
    tenant_map = load_tenants(tenants)
    markers: list[str] = []
    for path in ci_profile or []:
        from trailhound.cicd.profiles import ProfileError, load_profiles

        try:
            markers += [m for prof in load_profiles(path) for m in prof.user_agent_markers]
        except (ProfileError, OSError) as e:
            raise UsageError(f"--ci-profile {path}: {e}") from None

    def say(stage: str) -> None:
        if show_progress():
            err.print(f"[dim]{stage}...[/dim]")

    result = run_hunt(list(sources or []), out_dir, store=store, rule_paths=list(rules or []),
                      overrides=overrides, tenants=tenant_map, include_sigma=not no_sigma,
                      progress=say, ci_markers=markers,
                      engine=_engine(engine, spark_master))
    from trailhound.display import render_hunt_summary

    render_hunt_summary(out, result)
    worst = result.worst_severity()
    if fail_on is not None and worst is not None and (
            SEVERITY_ORDER.index(worst) >= SEVERITY_ORDER.index(fail_on.value)):
        raise typer.Exit(1)


@app.command()
def watch(
    source: Annotated[str | None, typer.Argument(
        help="Folder or s3://bucket/prefix the trail is delivered to (not with --replay).",
        metavar="[SOURCE]")] = None,
    store: Annotated[Path, typer.Option("--store", help="Store folder (created if new).")
                     ] = Path("store"),
    interval: Annotated[str, typer.Option(
        "--interval", help="Time between polls: 60s, 5m, ...")] = "60s",
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Folder for stream.ndjson and, kept current, incidents.json and "
        "alerts.ndjson; the full report is written there on exit.")] = None,
    exec_cmd: Annotated[str | None, typer.Option(
        "--exec", help="Command that gets each line on its standard input (no shell).")
                        ] = None,
    replay: Annotated[Path | None, typer.Option(
        "--replay", help="Replay a finished corpus (e.g. `simulate` output) in delivery "
        "order instead of watching a source.")] = None,
    speed: Annotated[str, typer.Option(
        "--speed", help="With --replay: simulated time per real time, e.g. 3600x; max = "
        "no waiting.")] = "3600x",
    replay_from: Annotated[str | None, typer.Option(
        "--replay-from", help="With --replay: deliver everything before this UTC time "
        "(YYYY-MM-DDTHH:MM) at once, then replay from there.")] = None,
    once: Annotated[bool, typer.Option("--once", help="One poll, then exit (for cron).")
                    ] = False,
    max_polls: Annotated[int | None, typer.Option(
        "--max-polls", min=1, help="Stop after this many polls (demos, tests).")] = None,
    rules: Annotated[list[Path] | None, _RULES_OPT] = None,
    overrides: Annotated[Path | None, _OVERRIDES_OPT] = None,
    no_sigma: Annotated[bool, _NO_SIGMA_OPT] = False,
    tenants: Annotated[Path | None, typer.Option(
        "--tenants", help="JSON/YAML map of bucket name to tenant (client).")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="s3:// source: AWS profile, as in the AWS CLI.")] = None,
    endpoint_url: Annotated[str | None, typer.Option(
        "--endpoint-url", help="s3:// source: S3 endpoint (MinIO, moto, a VPC endpoint).")
                            ] = None,
    account: Annotated[list[str] | None, typer.Option(
        "--account", help="s3:// source: only this account's folders. Repeatable.")] = None,
    region: Annotated[list[str] | None, typer.Option(
        "--region", help="s3:// source: only this trail region's folders. Repeatable.")
                      ] = None,
) -> None:
    """Hunt continuously: poll the trail, ingest new log objects only, re-run the rules over
    what the new events can change, and print each new or escalated incident and each new
    high alert as one NDJSON line (stdout, <out>/stream.ndjson, --exec). Ctrl-C stops
    cleanly; the next start resumes where it stopped."""
    from trailhound.hunt import load_tenants
    from trailhound.rules import load_rules
    from trailhound.rules.durations import seconds
    from trailhound.watch import (
        Replay,
        Stream,
        WatchConfig,
        Watcher,
        install_signal_handlers,
        parse_speed,
    )

    if (source is None) == (replay is None):
        raise UsageError("give a SOURCE to watch, or --replay CORPUS (not both)")
    try:
        every = float(seconds(interval, what="--interval"))
    except TrailhoundError as e:
        raise UsageError(str(e)) from None
    _check_rule_paths(rules)
    tenant_map = load_tenants(tenants)
    s3 = _s3_options([source] if source else [], profile, endpoint_url, account, region,
                     None, None, 8)
    rep = None
    if replay is not None:
        inbox = (out_dir or store) / "replay-inbox"
        start = None
        if replay_from is not None:
            from datetime import datetime

            try:
                start = datetime.fromisoformat(replay_from.rstrip("Z")).replace(tzinfo=None)
            except ValueError:
                raise UsageError(f"--replay-from: expected YYYY-MM-DDTHH:MM, got "
                                 f"{replay_from!r}") from None
        rep = Replay(replay, inbox, parse_speed(speed), start)
        source = str(inbox)
    ruleset = load_rules(list(rules or []), include_sigma=not no_sigma, overrides=overrides)

    def say(msg: str) -> None:
        err.print(f"[dim]{rich_safe(msg)}[/dim]", soft_wrap=True)

    cfg = WatchConfig(store=store, source=source, out=out_dir, interval=every,
                      tenants=tenant_map, once=once, max_polls=max_polls, s3=s3, replay=rep)
    watcher = Watcher(cfg, ruleset, Stream(out_dir, exec_cmd=exec_cmd, warn=say), say=say)
    restore = install_signal_handlers(watcher)
    try:
        summary = watcher.run()
    finally:
        restore()
        watcher.close()
    if rep is not None:
        from trailhound.display import render_replay_summary

        render_replay_summary(err, summary, rep, every)
    if summary.stopped_by:
        say(f"stopped by {summary.stopped_by} after {summary.polls} polls; "
            "run again to resume")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("demo-out"),
    seed: Annotated[int, typer.Option("--seed", help="Simulation seed.")] = 1,
    scenario: Annotated[str, typer.Option("--scenario", help="Simulated scenario.")] = "full",
) -> None:
    """Simulate a web-hosting organisation with the reference attack hidden in a week of
    benign traffic, hunt it end to end, and show what was found next to what was planted."""
    import shutil

    from trailhound.display import render_demo_truth, render_hunt_summary
    from trailhound.hunt import hunt as run_hunt
    from trailhound.hunt import load_tenants
    from trailhound.simulate import generate

    sim = out_dir / "simulated-logs"
    if sim.exists():
        shutil.rmtree(sim)
    store = out_dir / "store"
    if store.exists():
        shutil.rmtree(store)
    out.print(f"Simulating a week of CloudTrail (scenario {scenario}, seed {seed}) in {sim} ...")
    generate(sim, scenario=scenario, seed=seed)
    out.print("Hunting ...")
    result = run_hunt([str(sim / "AWSLogs")], out_dir, store=store,
                      tenants=load_tenants(sim / "tenants.json"))
    render_hunt_summary(out, result)
    render_demo_truth(out, result, sim / "truth.json")


RESPOND_EXECUTION_FAILED = 3


@app.command()
def respond(
    store: Annotated[Path, typer.Option("--store", help="Store folder a hunt wrote to.")],
    incident: Annotated[str, typer.Option(
        "--incident", help="Incident id from incidents.json (a unique prefix is enough).")],
    execute: Annotated[bool, typer.Option(
        "--execute", help="Perform the automatic steps on AWS (default: only print the plan; "
        "no AWS client is created).")] = False,
    yes: Annotated[bool, typer.Option(
        "--yes", help="With --execute: do not ask for confirmation (needed without a "
        "terminal).")] = False,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="table or json.")
                   ] = TableOrJson.table,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="AWS named profile (default: boto3's credential chain).")] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS region for STS.")
                      ] = None,
    endpoint_url: Annotated[str | None, typer.Option(
        "--endpoint-url", help="Send AWS calls to this URL (a test endpoint, a VPC "
        "endpoint).")] = None,
) -> None:
    """Containment plan for one incident: ordered steps with the exact AWS call, what each
    breaks for legitimate users, and how to undo it. Changes AWS only with --execute, step by
    step, idempotently, logging every call to <store>/actions/<incident>.ndjson.

    Exit codes: 0 the plan was printed, or --execute finished every automatic step;
    2 usage or input error (unknown incident, no store, --execute without --yes off a
    terminal, confirmation declined); 3 --execute did not finish: a step failed (the message
    names it and what remains; re-run to resume) or steps need credentials of another
    account."""
    from trailhound.errors import RespondError
    from trailhound.respond import ActionLog, AwsOptions, apply_log, plan_for
    from trailhound.respond import execute as run_execute
    from trailhound.respond.render import execution_summary, plan_json, plan_table

    plan = plan_for(store, incident)
    if not execute:
        if fmt is TableOrJson.json:
            plan_json(plan)
        else:
            plan_table(out, plan)
        return
    todo = plan.remaining
    if not yes and todo:
        if not sys.stdin.isatty():
            raise UsageError("--execute changes AWS: confirm on a terminal, or pass --yes")
        plan_table(err, plan, executed=True)
        irreversible = sum(1 for s in todo if s.irreversible)
        if not typer.confirm(f"Perform {len(todo)} step(s) on AWS"
                             + (f", {irreversible} of them irreversible" if irreversible
                                else "") + "?", default=False, err=True):
            raise RespondError("not confirmed: nothing was changed")
    log = ActionLog.for_incident(store.absolute(), plan.incident_id)

    def progress(step, rep) -> None:  # type: ignore[no-untyped-def]
        if fmt is not TableOrJson.json:
            err.print(f"{safe(rep.result)}: {safe(step.id)}", markup=False)

    result = run_execute(plan, log, AwsOptions(profile, region, endpoint_url),
                         on_step=progress)
    apply_log(plan, log)
    if fmt is TableOrJson.json:
        plan_json(plan, result)
    else:
        plan_table(out, plan, executed=True)
        execution_summary(out, result)
    if result.complete:
        return
    if result.failed is not None:
        reason = f"step {result.failed.id} failed: {result.failed.detail}"
    else:
        accounts = sorted({s.account or "?" for s in result.remaining})
        reason = "steps need credentials for account(s) " + ", ".join(accounts)
    left = ", ".join(s.id for s in result.remaining) or "none"
    sys.stderr.write(f"trailhound: error: {safe(reason)}; remaining: {safe(left)} "
                     f"(action log: {safe(str(log.path))}; re-run to resume)\n")
    raise typer.Exit(RESPOND_EXECUTION_FAILED)


@app.command()
def investigate(
    store: Annotated[Path, typer.Option("--store", help="Store folder (ingest or hunt wrote it).")],
    key: Annotated[str | None, typer.Option("--key", help="An access key id (AKIA.../ASIA...).")
                   ] = None,
    principal: Annotated[str | None, typer.Option(
        "--principal", help="An identity ARN (user, role or assumed-role session).")] = None,
    ip: Annotated[str | None, typer.Option("--ip", help="A source IP address.")] = None,
    incident: Annotated[str | None, typer.Option(
        "--incident", help="Incident id from the last hunt (a unique prefix is enough).")
                        ] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO-8601 start time (UTC).")
                     ] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO-8601 end time (UTC).")
                     ] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="table or json.")
                   ] = TableOrJson.table,
    tenants: Annotated[Path | None, typer.Option(
        "--tenants", help="Bucket -> tenant map (JSON or YAML); default: the tenants the "
        "last hunt recorded.")] = None,
) -> None:
    """Everything one key, identity, address or incident did: the lineage of keys created and
    sessions obtained, activity per hour (attacker vs legitimate), APIs with outcome, source
    IPs and user agents with first-seen, buckets and objects read with bytes, tenants.

    Give exactly one of --key, --principal, --ip, --incident. Exit 0 when it ran (also when
    nothing matched), 2 on a usage or input error."""
    from trailhound.hunt import load_tenants
    from trailhound.investigate import Subject, investigate_store

    chosen = [(k, v) for k, v in (("key", key), ("principal", principal), ("ip", ip),
                                  ("incident", incident)) if v is not None]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --key, --principal, --ip, --incident")
    if not (store / "manifest.sqlite").exists() and not (store / "events").exists():
        raise UsageError(f"{store}: not a trailhound store (run `trailhound ingest` or "
                         "`trailhound hunt` first)")
    kind, value = chosen[0]
    subject = Subject(kind, value, _parse_time(since, "--since"), _parse_time(until, "--until"))
    doc = investigate_store(store, subject, tenants=load_tenants(tenants) or None)
    if fmt is TableOrJson.json:
        sys.stdout.buffer.write(json_bytes(doc, indent=True) + b"\n")
        sys.stdout.flush()
        return
    from trailhound.display import render_investigation

    render_investigation(out, doc)


rules_app = typer.Typer(name="rules", help="The rule catalogue: list, self-test, lint, export.",
                        no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")


@rules_app.command("list")
def rules_list(
    rules: Annotated[list[Path] | None, _RULES_OPT] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="table or json.")
                   ] = TableOrJson.table,
    overrides: Annotated[Path | None, _OVERRIDES_OPT] = None,
    no_sigma: Annotated[bool, _NO_SIGMA_OPT] = False,
) -> None:
    """Every loaded rule (id, kind, level, stage, ATT&CK) and every skipped file with why."""
    from trailhound.rules.render import rules_json, rules_table

    ruleset = _load_ruleset(rules, no_sigma, overrides)
    if fmt is TableOrJson.json:
        rules_json(ruleset)
    else:
        rules_table(out, ruleset)


@rules_app.command("test")
def rules_test(
    rules: Annotated[list[Path] | None, _RULES_OPT] = None,
    only: Annotated[str | None, typer.Option("--rule", help="Test only this rule id.")] = None,
) -> None:
    """Run every trailhound rule on its own positive and negative events (exit 2 on failure)."""
    from trailhound.errors import RuleError
    from trailhound.rules.render import skipped_table, tests_table
    from trailhound.rules.selftest import run_rule_tests

    ruleset = _load_ruleset(rules, True, None)
    todo = [r for r in ruleset.rules if r.positive or r.negative]
    if only:
        todo = [r for r in todo if r.id == only]
        if not todo:
            raise UsageError(f"--rule {only}: no rule with own tests has this id")
    outcomes = [run_rule_tests(r) for r in todo]
    tests_table(out, outcomes)
    skipped_table(out, [s for s in ruleset.skipped if not s[0].startswith("sigmahq")])
    failed = [o.rule_id for o in outcomes if not o.ok]
    if failed:
        raise RuleError(f"{len(failed)} of {len(outcomes)} rules failed their tests: "
                        + ", ".join(failed))


@rules_app.command("lint")
def rules_lint(
    rules: Annotated[list[Path] | None, _RULES_OPT] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="table or json.")
                   ] = TableOrJson.table,
    no_sigma: Annotated[bool, _NO_SIGMA_OPT] = False,
) -> None:
    """Check rule metadata and logic (values that are field names, ARN vs name comparisons,
    pySigma's validators). Exit 2 when an error-level finding exists."""
    from trailhound.errors import RuleError
    from trailhound.rules.lint import lint_rules
    from trailhound.rules.render import lint_table

    issues = lint_rules(_load_ruleset(rules, no_sigma, None))
    if fmt is TableOrJson.json:
        sys.stdout.write(orjson.dumps([i.to_dict() for i in issues],
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        lint_table(out, issues)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise RuleError(f"{len(errors)} lint errors")


@rules_app.command("export")
def rules_export(
    dialect: Annotated[SqlDialect, typer.Option("--dialect", help="Target SQL engine.")
                       ] = SqlDialect.duckdb,
    rules: Annotated[list[Path] | None, _RULES_OPT] = None,
    only: Annotated[str | None, typer.Option("--rule", help="Export only this rule id.")] = None,
    grouped: Annotated[bool, typer.Option("--grouped", help="Include alert grouping.")
                       ] = False,
    no_sigma: Annotated[bool, _NO_SIGMA_OPT] = False,
) -> None:
    """Print each rule's SQL over a table `events` with the store's columns (SQLGlot
    transpiles DuckDB's text to Spark, Trino or Athena)."""
    from trailhound.rules.export import export_rule

    ruleset = _load_ruleset(rules, no_sigma, None)
    todo = [r for r in ruleset.rules if only is None or r.id == only]
    if only and not todo:
        raise UsageError(f"--rule {only}: no such rule")
    for r in todo:
        e = export_rule(r, dialect.value, grouped=grouped)
        sys.stdout.write(f"-- {safe(r.id)}: {safe(r.title)} [{r.level}]\n{e.sql};\n\n")


class AuditCiFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


@app.command("audit-ci")
def audit_ci(
    paths: Annotated[list[Path], typer.Argument(
        help="Repository roots, folders or workflow files (.github/workflows/*.yml, "
        "action.yml, .gitlab-ci.yml).", metavar="PATH...")],
    fmt: Annotated[AuditCiFormat, typer.Option("--format", help="table, json or sarif.")
                   ] = AuditCiFormat.table,
    inventory: Annotated[bool, typer.Option(
        "--inventory", help="Also list every pipeline dependency (table or json).")] = False,
    profile_out: Annotated[Path | None, typer.Option(
        "--profile-out", help="Write credential profiles of pipelines holding AWS keys "
        "(JSON, for hunt --ci-profile).", metavar="FILE")] = None,
    fail_on: Annotated[FailOn | None, typer.Option(
        "--fail-on", help="Exit 1 when a finding at or above this severity exists.")] = None,
) -> None:
    """Find CI/CD supply-chain weaknesses: unpinned actions and images, tools piped from
    curl, long-lived AWS keys, default or write-all tokens, privileged triggers, script
    injection, no egress control, known-compromised versions. See docs/audit-ci.md."""
    from trailhound.cicd import AuditPathError, audit, write_profiles
    from trailhound.cicd.model import SEVERITY_RANK
    from trailhound.cicd.render import findings_table, result_json, result_sarif, write_stdout

    if inventory and fmt is AuditCiFormat.sarif:
        raise UsageError("--inventory works with --format table or json, not sarif")
    try:
        result = audit(list(paths))
    except AuditPathError as e:
        raise UsageError(str(e)) from None
    if profile_out is not None:
        try:
            write_profiles(profile_out, result.profiles)
        except OSError as e:
            raise UsageError(f"--profile-out {profile_out}: {e.strerror or e}") from None
    if fmt is AuditCiFormat.sarif:
        write_stdout(result_sarif(result))
    elif fmt is AuditCiFormat.json:
        write_stdout(result_json(result, inventory=inventory))
    else:
        findings_table(out, result, inventory=inventory)
    worst = result.worst()
    if fail_on is not None and worst is not None and (
            SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on.value]):
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every expected failure to one line on stderr and exit code 2."""
    try:
        rv = app(args=argv, prog_name="trailhound", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        sys.stderr.write("trailhound: aborted\n")
        return 2
    except typer.TyperException as e:
        # Click's usage errors (typer vendors click): one line, as the contract promises.
        fmt = getattr(e, "format_message", None)
        msg = fmt() if callable(fmt) else str(e)
        sys.stderr.write(f"trailhound: error: {safe(' '.join(str(msg).split()))}\n")
        return 2
    except TrailhoundError as e:
        if _DEBUG["on"]:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"trailhound: error: {safe(str(e))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("trailhound: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    raise SystemExit(main())


__all__ = ["UsageError", "app", "main", "run"]
