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
