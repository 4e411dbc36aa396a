"""Terminal and JSON renderers for `audit-ci`. Workflow text is attacker-controlled, so
every value goes through `termsafe.rich_safe` on a terminal, and through orjson (which
escapes control characters) in JSON."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import orjson
from rich.console import Console

from trailhound.cicd.model import SEVERITIES, AuditResult
from trailhound.cicd.profiles import profiles_document
from trailhound.cicd.sarif import to_sarif
from trailhound.termsafe import rich_safe

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def findings_table(console: Console, res: AuditResult, *, inventory: bool = False) -> None:
    # One block per finding rather than a table: messages and fixes are sentences, and a
    # table squeezes them into unreadable columns on an 80-column terminal or CI log.
    for f in res.findings:
        job = f"  [dim](job {rich_safe(f.job, limit=40)})[/dim]" if f.job else ""
        console.print(f"[{_STYLE[f.severity]}]{f.severity.upper():8}[/] [bold]{f.rule_id}[/]  "
                      f"{rich_safe(f.path, limit=80, keep_end=True)}:{f.line}{job}")
        console.print(f"  {rich_safe(f.message, limit=400)}")
        console.print(f"  [dim]fix: {rich_safe(f.fix, limit=400)}[/dim]")
    if res.errors:
        console.print(f"[bold]files not audited[/] ({len(res.errors)})")
        for err in res.errors:
            console.print(f"  {rich_safe(err.path, limit=80, keep_end=True)}: "
                          f"{rich_safe(err.reason, limit=200)}")
    if inventory:
        inventory_table(console, res)
    counts = Counter(f.severity for f in res.findings)
    by = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s]) or "none"
    console.print(f"{len(res.files)} files audited, {len(res.errors)} not readable; "
                  f"findings: {by}")
    if res.profiles:
        console.print(f"{len(res.profiles)} pipeline(s) hold a long-lived AWS key "
                      "(credential profiles: --profile-out FILE)")


def inventory_table(console: Console, res: AuditResult) -> None:
    """One line per dependency (`file:line kind name @ref pinned|UNPINNED (job)`): names and
    URLs are long, and a table would fold them into unreadable columns."""
    console.print(f"[bold]pipeline dependencies[/] ({len(res.inventory)})")
    for d in res.inventory:
        pin = "pinned" if d.pinned else "[red]UNPINNED[/]"
        ref = f" @{rich_safe(d.ref, limit=72)}" if d.ref else ""
        job = f"  [dim](job {rich_safe(d.job, limit=40)})[/dim]" if d.job else ""
        console.print(f"  {rich_safe(d.path, limit=60, keep_end=True)}:{d.line}  {d.kind} "
                      f"{rich_safe(d.name, limit=100)}{ref}  {pin}{job}")


def result_json(res: AuditResult, *, inventory: bool = False) -> bytes:
    doc: dict[str, Any] = res.to_dict()
    if inventory:
        doc["inventory"] = [d.to_dict() for d in res.inventory]
    doc["profiles"] = profiles_document(res.profiles)["profiles"]
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def result_sarif(res: AuditResult) -> bytes:
    return orjson.dumps(to_sarif(res), option=orjson.OPT_INDENT_2) + b"\n"


def write_stdout(data: bytes) -> None:
    sys.stdout.write(data.decode())
    sys.stdout.flush()
