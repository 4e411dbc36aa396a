"""Terminal and JSON renderers for `audit-ci`. Workflow text is attacker-controlled, so
every value goes through `termsafe.rich_safe` on a terminal, and through orjson (which
escapes control characters) in JSON."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

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
        e = Table(title="files not audited")
        e.add_column("file", overflow="fold")
        e.add_column("reason", overflow="fold")
        for err in res.errors:
            e.add_row(rich_safe(err.path, limit=80, keep_end=True),
                      rich_safe(err.reason, limit=200))
        console.print(e)
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
    t = Table(title="pipeline dependencies")
    for c in ("file", "line", "kind", "name", "ref / version", "pinned", "job"):
        t.add_column(c, overflow="fold")
    for d in res.inventory:
        t.add_row(rich_safe(d.path, limit=60, keep_end=True), str(d.line), d.kind,
                  rich_safe(d.name, limit=80), rich_safe(d.ref or "-", limit=50),
                  "yes" if d.pinned else "[red]no[/]", rich_safe(d.job or "", limit=30))
    console.print(t)


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
