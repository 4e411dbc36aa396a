"""Terminal renderers for stage results (Rich). Every log-derived string goes through
`termsafe` before it reaches the terminal."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from trailhound.store.ingest import IngestStats
from trailhound.termsafe import rich_safe


def render_ingest_summary(console: Console, stats: IngestStats, store: Path) -> None:
    t = Table(title="ingest", show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    secs = max(stats.seconds, 1e-9)
    read = stats.objects_loaded + stats.objects_quarantined + stats.objects_empty
    rows = [
        ("objects read", f"{read:,}"),
        ("  loaded", f"{stats.objects_loaded:,}"),
        ("  quarantined", f"{stats.objects_quarantined:,}"),
        ("  empty", f"{stats.objects_empty:,}"),
        ("  unchanged (already ingested)", f"{stats.objects_unchanged:,}"),
        ("  same bytes as another object", f"{stats.objects_same_content:,}"),
    ]
    rows += [(f"  skipped: {why}", f"{n:,}") for why, n in sorted(stats.skipped.items())]
    rows += [
        ("records read", f"{stats.records_read:,}"),
        ("events stored", f"{stats.events_stored:,}"),
        ("duplicates dropped", f"{stats.duplicates:,}"),
        ("records quarantined", f"{stats.records_quarantined:,}"),
        ("MB read (stored / decoded)",
         f"{stats.bytes_read / 1e6:,.1f} / {stats.bytes_decoded / 1e6:,.1f}"),
        ("time", f"{stats.seconds:,.1f} s"),
        ("events/s", f"{stats.records_read / secs:,.0f}"),
        ("MB/s (decoded)", f"{stats.bytes_decoded / 1e6 / secs:,.1f}"),
    ]
    if stats.orphan_parts_removed:
        rows.append(("parts of an interrupted run removed", f"{stats.orphan_parts_removed:,}"))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if stats.quarantine:
        q = Table(title="quarantined", show_lines=False)
        q.add_column("object", overflow="fold")
        q.add_column("where")
        q.add_column("reason", overflow="fold")
        for src, pos, reason in stats.quarantine[:50]:
            q.add_row(rich_safe(src, limit=60, keep_end=True), rich_safe(pos or "whole object"),
                      rich_safe(reason, limit=120))
        console.print(q)
        if len(stats.quarantine) > 50:
            console.print(f"... and {len(stats.quarantine) - 50:,} more (see the store's "
                          "quarantine/ folder and manifest)")
    console.print(f"store: {rich_safe(store)}")


def render_hunt_summary(console: Console, result) -> None:  # type: ignore[no-untyped-def]
    """The few lines a responder reads first: incidents, scope, where the report is."""
    from trailhound.correlate.incident import human_bytes

    t = result.timings
    console.print(
        f"[bold]{result.events_analysed:,}[/bold] events analysed, "
        f"{len(result.detect.alerts):,} alerts, [bold]{len(result.incidents)}[/bold] "
        f"incident(s) in {sum(t.values()):.1f} s "
        f"({', '.join(f'{k} {v:.1f}s' for k, v in t.items())})")
    if result.incidents:
        tab = Table(show_lines=False)
        for col in ("incident", "severity", "attacker active (UTC)", "keys", "IPs", "stages",
                    "read from S3"):
            tab.add_column(col, overflow="fold")
        for inc in result.incidents:
            span = "-"
            if inc.first_seen and inc.last_seen:
                span = (f"{inc.first_seen:%Y-%m-%d %H:%M} to\n"
                        f"{inc.last_seen:%Y-%m-%d %H:%M}")
            tab.add_row(
                rich_safe(inc.id), inc.severity, span,
                "\n".join(rich_safe(k) for k in inc.access_keys[:6]),
                str(len(inc.source_ips)),
                ", ".join(inc.stages),
                f"{human_bytes(inc.bytes_out)} from {len(inc.buckets)} buckets"
                if inc.buckets else "-")
        console.print(tab)
        for inc in result.incidents:
            console.print(f"[bold]{rich_safe(inc.id)}[/bold]: {rich_safe(inc.title)}")
    else:
        console.print("No incident: no key shows use by anyone other than its owner.")
    console.print(f"report: {rich_safe(result.out / 'report.md')}  "
                  f"incidents: {rich_safe(result.out / 'incidents.json')}")


def render_demo_truth(console: Console, result, truth_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Side by side: what the simulator planted and what the hunt found."""
    import json

    from trailhound.correlate.incident import human_bytes

    truth = json.loads(truth_path.read_text())
    attack = truth.get("attack")
    if not attack:
        console.print("The simulation planted no attack.")
        return
    found = result.incidents[0] if result.incidents else None
    tab = Table(title="planted vs found", show_lines=False)
    tab.add_column("")
    tab.add_column("planted")
    tab.add_column("found")
    planted_bytes = sum(b["bytes_out"] for b in attack["s3_buckets"])

    def row(name: str, a: object, b: object) -> None:
        tab.add_row(name, rich_safe(a), rich_safe(b))

    row("root key", attack["root_access_key"], found.root_access_key if found else "-")
    row("keys", ", ".join(sorted(attack["access_keys"])),
        ", ".join(found.access_keys) if found else "-")
    row("attacker IPs", len(attack["source_ips"]), len(found.source_ips) if found else 0)
    row("bytes read", human_bytes(planted_bytes), human_bytes(found.bytes_out) if found else "-")
    row("buckets", len(attack["s3_buckets"]), len(found.buckets) if found else 0)
    row("stages", ", ".join(attack["stages"]), ", ".join(found.stages) if found else "-")
    console.print(tab)
