"""The plan and an execution's outcome, as a Rich table for people and JSON for scripts.

Every value that came from a log (user names, bucket names, ARNs the attacker chose) goes
through `rich_safe`: log fields are attacker-controlled.
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from trailhound.respond.execute import ExecResult
from trailhound.respond.plan import AUTOMATIC, Plan
from trailhound.termsafe import rich_safe

_STATUS_STYLE = {"done": "green", "failed": "bold red", "pending": "yellow", "manual": "cyan"}


def plan_json(plan: Plan, result: ExecResult | None = None) -> None:
    doc: dict[str, Any] = plan.to_dict()
    if result is not None:
        doc["execution"] = result.to_dict()
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def plan_table(console: Console, plan: Plan, *, executed: bool = False) -> None:
    console.print(f"[bold]{rich_safe(plan.incident_id)}[/] [{rich_safe(plan.severity)}] "
                  f"{rich_safe(plan.title)}")
    console.print(f"attacker activity {rich_safe(plan.first_seen)} .. "
                  f"{rich_safe(plan.last_seen)}")
    keys = Table(title="Attacker keys", title_justify="left", show_lines=False)
    for col in ("key", "kind", "account", "owner", "legitimate use"):
        keys.add_column(col, overflow="fold")
    for k in plan.attacker_keys:
        owner = k.user or k.role_arn or ""
        legit = (f"yes: {k.legit.events} calls, last {k.legit.last_seen:%Y-%m-%d %H:%M}"
                 + (f" ({', '.join(k.legit.platforms)})" if k.legit.platforms else "")
                 if k.legit.any and k.legit.last_seen else "none seen")
        keys.add_row(rich_safe(k.key.removeprefix("role:")), k.kind, rich_safe(k.account),
                     rich_safe(owner), rich_safe(legit))
    console.print(keys)
    t = Table(title="Containment plan", title_justify="left", show_lines=True)
    t.add_column("#", justify="right")
    t.add_column("step", overflow="fold", ratio=3)
    t.add_column("AWS call", overflow="fold", ratio=3)
    t.add_column("blast radius", overflow="fold", ratio=3)
    t.add_column("undo", overflow="fold", ratio=2)
    t.add_column("status")
    for s in plan.steps:
        head = f"[bold]{rich_safe(s.action)}[/] {rich_safe(s.target)}\n{rich_safe(s.why)}"
        if s.irreversible:
            head += "\n[bold red]IRREVERSIBLE[/]"
        if s.requires:
            head += "\nafter: " + ", ".join(rich_safe(r) for r in s.requires)
        if s.mode == AUTOMATIC:
            call = "\n".join(rich_safe(c.cli()) for c in s.calls)
        else:
            parts = [rich_safe(c.cli()) for c in s.calls]
            if s.params.get("hint"):
                parts.append(rich_safe(s.params["hint"]))
            call = "[cyan]manual[/]" + ("\n" + "\n".join(parts) if parts else "")
        status = s.status
        if s.status == "done" and s.done_at:
            status += f"\n{s.done_at[:19]}"
        style = _STATUS_STYLE.get(s.status, "")
        t.add_row(str(s.number), head, call, rich_safe(s.blast_radius), rich_safe(s.undo),
                  f"[{style}]{rich_safe(status)}[/]" if style else rich_safe(status))
    console.print(t)
    if plan.facts.bucket_changes:
        console.print(f"{len(plan.facts.bucket_changes)} bucket(s) had access changes during "
                      "the incident window: review steps above.")
    auto = [s for s in plan.steps if s.mode == AUTOMATIC]
    left = plan.remaining
    if not executed:
        if left:
            console.print(f"{len(auto) - len(left)} of {len(auto)} automatic steps done. "
                          "Nothing was changed: re-run with --execute to perform the "
                          "remaining ones.")
        else:
            console.print(f"all {len(auto)} automatic steps are done.")


def execution_summary(console: Console, result: ExecResult) -> None:
    who = f" as {rich_safe(result.actor)}" if result.actor else ""
    console.print(f"executed{who}:")
    for r in result.reports:
        style = {"done": "green", "already-done": "green", "done-earlier": "dim",
                 "failed": "bold red", "other-account": "yellow"}.get(r.result, "")
        console.print(f"  [{style}]{rich_safe(r.result)}[/] {rich_safe(r.id)}: "
                      f"{rich_safe(r.detail)}")
    if result.remaining:
        console.print(f"[yellow]{len(result.remaining)} step(s) remain:[/] "
                      + ", ".join(rich_safe(s.id) for s in result.remaining))
