"""Terminal and machine renderings of detection results, for the CLI.

Every log-derived string goes through `termsafe` before it reaches a terminal: user agents,
ARNs and IPs are attacker-controlled. JSON output is escaped by the JSON encoder.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table

from trailhound.rules.lint import LintIssue
from trailhound.rules.model import Alert, DetectResult, RuleSet
from trailhound.rules.selftest import TestOutcome
from trailhound.termsafe import json_bytes, rich_safe

_SEV_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def _dump(obj: Any, out: IO[str], *, indent: bool = True) -> None:
    out.write(json_bytes(obj, indent=indent).decode() + "\n")


def alerts_ndjson(alerts: list[Alert], out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    for a in alerts:
        for piece in a.json_pieces():
            out.write(piece.decode())
        out.write("\n")


def detect_json(result: DetectResult, out: IO[str] | None = None) -> None:
    """One JSON document, written alert by alert (an alert may list a million ids)."""
    out = out or sys.stdout
    out.write('{\n  "alerts": [')
    for n, a in enumerate(result.alerts):
        out.write(",\n    " if n else "\n    ")
        for piece in a.json_pieces():
            out.write(piece.decode())
    out.write("\n  ],\n" if result.alerts else "],\n")
    rest = orjson.dumps({
        "skipped": [{"rule": r, "reason": why} for r, why in result.skipped],
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
    }, option=orjson.OPT_INDENT_2).decode()
    out.write(rest[rest.index("\n") + 1:] + "\n")


def detect_table(console: Console, result: DetectResult, *, max_ids: int = 3) -> None:
    t = Table(title=f"{len(result.alerts)} alerts", show_lines=False)
    for col in ("first event (UTC)", "severity", "rule", "stage", "ATT&CK", "key",
                "principal", "source ip", "n", "event ids"):
        t.add_column(col, overflow="fold")
    for a in result.alerts:
        ids = ", ".join(a.event_ids[:max_ids]) + (" …" if len(a.event_ids) > max_ids else "")
        t.add_row(a.event_time.strftime("%Y-%m-%d %H:%M:%S"),
                  f"[{_SEV_STYLE.get(a.severity, '')}]{a.severity}[/]",
                  rich_safe(a.rule_id), a.stage or "", ", ".join(a.techniques),
                  rich_safe(a.access_key_id), rich_safe(a.principal_arn, limit=60),
                  rich_safe(a.source_ip), str(a.count), rich_safe(ids))
    console.print(t)
    authors = {a.rule_id: a.author for a in result.alerts if a.author}
    if authors:
        console.print("Rule authors: " + "; ".join(
            f"{rich_safe(rid)}: {rich_safe(who)}" for rid, who in sorted(authors.items())),
            soft_wrap=True)
    skipped_table(console, result.skipped)


def skipped_table(console: Console, skipped: list[tuple[str, str]] | tuple[Any, ...]) -> None:
    """Every skipped rule with its reason, never just a count."""
    if not skipped:
        return
    t = Table(title=f"{len(skipped)} rules skipped", title_style="yellow")
    t.add_column("rule or file", overflow="fold")
    t.add_column("reason", overflow="fold")
    for rid, why in skipped:
        t.add_row(rich_safe(rid), rich_safe(why))
    console.print(t)


def rules_table(console: Console, ruleset: RuleSet) -> None:
    t = Table(title=f"{len(ruleset.rules)} rules")
    for col in ("id", "kind", "level", "stage", "ATT&CK", "origin", "enabled", "title"):
        t.add_column(col, overflow="fold")
    for r in ruleset.rules:
        t.add_row(rich_safe(r.id), r.kind, r.level, r.stage or "", ", ".join(r.techniques),
                  r.origin, "yes" if r.enabled else "no", rich_safe(r.title))
    console.print(t)
    skipped_table(console, ruleset.skipped)


def rules_json(ruleset: RuleSet, out: IO[str] | None = None) -> None:
    _dump({
        "rules": [{"id": r.id, "title": r.title, "kind": r.kind, "level": r.level,
                   "severity": r.severity, "stage": r.stage, "techniques": list(r.techniques),
                   "status": r.status, "origin": r.origin, "author": r.author,
                   "enabled": r.enabled, "path": str(r.path) if r.path else None}
                  for r in ruleset.rules],
        "skipped": [{"rule": r, "reason": why} for r, why in ruleset.skipped],
    }, out or sys.stdout)


def tests_table(console: Console, outcomes: list[TestOutcome]) -> None:
    t = Table(title="rule self-tests")
    for col in ("rule", "result", "positive", "negative", "failures"):
        t.add_column(col, overflow="fold")
    for o in outcomes:
        t.add_row(rich_safe(o.rule_id), "[green]pass[/]" if o.ok else "[red]FAIL[/]",
                  str(o.positives), str(o.negatives), rich_safe("; ".join(o.failures)))
    console.print(t)


def lint_table(console: Console, issues: list[LintIssue]) -> None:
    t = Table(title=f"{len(issues)} lint findings")
    for col in ("severity", "rule", "check", "message"):
        t.add_column(col, overflow="fold")
    for i in issues:
        style = {"error": "red", "warning": "yellow"}.get(i.severity, "dim")
        t.add_row(f"[{style}]{i.severity}[/]", rich_safe(i.rule_id), i.check,
                  rich_safe(i.message))
    console.print(t)
