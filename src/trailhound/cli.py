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

import click
import orjson
import typer
from rich.console import Console

from trailhound import __version__
from trailhound.errors import TrailhoundError, UsageError
from trailhound.termsafe import safe

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
        help="Files or folders: .json, .json.gz, NDJSON, AWS's S3 layout.", metavar="SOURCE...")],
    store: Annotated[Path, typer.Option("--store", help="Store folder (created if absent).")],
    fmt: Annotated[TableOrJson, typer.Option("--format", help="Summary as a table or JSON.")
                   ] = TableOrJson.table,
    max_object_mb: Annotated[int, typer.Option(
        "--max-object-mb", min=1, help="Refuse objects that decompress past this size.")] = 1024,
) -> None:
    """Read CloudTrail into the columnar store. Idempotent and resumable: re-running reads
    only new objects and never stores an eventID twice."""
    from trailhound.display import render_ingest_summary
    from trailhound.store.engine import Store
    from trailhound.store.ingest import ingest as run_ingest

    st = Store(store, create=True)
    try:
        stats = _with_progress(
            "ingest", lambda cb: run_ingest(list(sources), st, progress=cb,
                                            max_object_bytes=max_object_mb * 1024 * 1024))
    finally:
        st.close()
    if fmt is TableOrJson.json:
        sys.stdout.write(orjson.dumps(stats.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render_ingest_summary(out, stats, store)


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


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps every expected failure to one line on stderr and exit code 2."""
    try:
        rv = app(args=argv, prog_name="trailhound", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.exceptions.Abort:
        err.print("trailhound: aborted")
        return 2
    except click.exceptions.ClickException as e:
        # Usage errors: one line, as the contract promises.
        sys.stderr.write(f"trailhound: error: {safe(e.format_message())}\n")
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
