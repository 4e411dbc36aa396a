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
        ("  of which with other content (quarantined)", f"{stats.conflicts:,}"),
        ("records quarantined", f"{stats.records_quarantined:,}"),
        ("records repaired and loaded", f"{stats.records_repaired:,}"),
        ("MB read (stored / decoded)",
         f"{stats.bytes_read / 1e6:,.1f} / {stats.bytes_decoded / 1e6:,.1f}"),
        ("time", f"{stats.seconds:,.1f} s"),
        ("events/s", f"{stats.records_read / secs:,.0f}"),
        ("MB/s (decoded)", f"{stats.bytes_decoded / 1e6 / secs:,.1f}"),
    ]
    if stats.parts_repaired:
        rows.append(("unreadable parts moved aside (objects re-read)",
                     f"{stats.parts_repaired:,}"))
    if stats.parts_adopted:
        rows.append(("parts adopted (manifest was lost; rebuilt)", f"{stats.parts_adopted:,}"))
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
    st = result.ingest
    if st is not None and (st.objects_quarantined or st.records_quarantined
                           or st.records_repaired):
        # Never silent: what could not be read may be exactly what the attacker did.
        console.print(
            f"[yellow]input:[/yellow] {st.objects_quarantined:,} objects and "
            f"{st.records_quarantined:,} records quarantined (not analysed), "
            f"{st.records_repaired:,} records repaired and loaded; originals in the store's "
            "quarantine/, per key in the incidents' warnings")
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
            for w in inc.warnings:
                console.print(f"  [yellow]warning:[/yellow] {rich_safe(w)}")
    else:
        console.print("No incident: no key shows use by anyone other than its owner.")
    console.print(f"report: {rich_safe(result.out / 'report.html')} (and report.md)  "
                  f"incidents: {rich_safe(result.out / 'incidents.json')}  "
                  f"indicators: stix.json, ocsf.json")


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


def render_investigation(console: Console, doc: dict) -> None:  # type: ignore[type-arg]
    """`investigate` in the terminal: lineage tree, timeline, APIs, addresses, agents, buckets
    and tenants of one subject (the dict of `investigate.profile`)."""
    from rich.tree import Tree

    from trailhound.correlate.incident import human_bytes

    q, s = doc["query"], doc["summary"]
    window = ""
    if q["since"] or q["until"]:
        window = f" between {rich_safe(q['since'] or 'the start')} and " \
                 f"{rich_safe(q['until'] or 'the end')}"
    console.print(f"[bold]{rich_safe(q['kind'])} {rich_safe(q['value'])}[/bold]{window}")
    if doc["incident"]:
        inc = doc["incident"]
        console.print(f"incident [bold]{rich_safe(inc['id'])}[/bold] ({rich_safe(inc['severity'])})"
                      f": {rich_safe(inc['title'])}")
    elif doc["incidents"]:
        console.print("in incident(s): " + ", ".join(rich_safe(i) for i in doc["incidents"]))
    if not s["events"]:
        console.print("No event in the store matches.")
        return
    console.print(
        f"{s['events']:,} events: [red]{s['attacker_events']:,} attacker[/red], "
        f"{s['shared_events']:,} shared, {s['other_events']:,} other (owner or unattributed); "
        f"seen {rich_safe(s['first_seen'])} to {rich_safe(s['last_seen'])}")
    if s["attacker_first_seen"]:
        console.print(f"attacker active {rich_safe(s['attacker_first_seen'])} to "
                      f"{rich_safe(s['attacker_last_seen'])}; read "
                      f"{human_bytes(s['attacker_bytes_out'])} from S3")
    console.print("accounts: " + (", ".join(rich_safe(a) for a in s["accounts"]) or "-"))

    lin = doc["lineage"]
    tree = Tree("[bold]lineage[/bold]")
    branches: dict[str, Tree] = {}
    via = {e["to"]: e for e in lin["edges"]}
    for node in lin["keys"]:
        e = via.get(node["key"])
        how = ""
        if e and e["relation"] == "created-key":
            how = f" created for user {rich_safe(e['user'] or '?')} at {rich_safe(e['time'])}"
        elif e:
            how = f" session of {rich_safe(e['role'] or e['api'])} at {rich_safe(e['time'])}"
        accts = ", ".join(rich_safe(a) for a in node["accounts"]) or "?"
        label = (f"{rich_safe(node['key'])} ({rich_safe(node['principal'] or '?')}, "
                 f"account {accts}){how}: "
                 f"{node['events']:,} events, [red]{node['attacker_events']:,} attacker[/red]"
                 + (" (" + ", ".join(rich_safe(x) for x in node["stages"]) + ")"
                    if node["stages"] else ""))
        parent = branches.get(node["parent"]) if node["parent"] else None
        branches[node["key"]] = (parent or tree).add(label)
    if lin["truncated"]:
        tree.add("... lineage cut at its size limit")
    console.print(tree)

    hourly = doc["timeline"]["hourly"]
    if hourly:
        t = Table(title="activity per day (from hourly counts)")
        for col in ("day", "attacker", "shared", "other", "busiest attacker hour"):
            t.add_column(col, justify="right" if col != "day" else "left")
        days: dict[str, list] = {}  # type: ignore[type-arg]
        for h in hourly:
            days.setdefault(h["hour"][:10], []).append(h)
        for day, hs in days.items():
            top = max(hs, key=lambda h: h["attacker"])
            t.add_row(rich_safe(day), f"{sum(h['attacker'] for h in hs):,}",
                      f"{sum(h['shared'] for h in hs):,}", f"{sum(h['other'] for h in hs):,}",
                      rich_safe(top["hour"][11:16]) if top["attacker"] else "-")
        console.print(t)

    t = Table(title="APIs")
    for col in ("API", "calls", "attacker", "failed", "errors", "first", "last"):
        t.add_column(col, overflow="fold")
    for a in doc["apis"][:40]:
        src = (a["event_source"] or "").removesuffix(".amazonaws.com")
        t.add_row(rich_safe(f"{src}:{a['event_name']}", limit=80),
                  f"{a['calls']:,}", f"{a['attacker_calls']:,}", f"{a['failed']:,}",
                  rich_safe(", ".join(a["error_codes"]), limit=60),
                  _short(a["first_seen"]), _short(a["last_seen"]))
    console.print(t)
    for key, title in (("source_ips", "source IPs"), ("user_agents", "user agents")):
        t = Table(title=f"{title} (first seen first)")
        for col in ("value", "first seen", "last seen", "events", "attacker"):
            t.add_column(col, overflow="fold")
        for v in doc[key][:40]:
            t.add_row(rich_safe(v["value"], limit=120), rich_safe(v["first_seen"]),
                      rich_safe(v["last_seen"]), f"{v['events']:,}", f"{v['attacker_events']:,}")
        console.print(t)
    if doc["buckets"]:
        t = Table(title="S3 buckets")
        for col in ("bucket", "tenant", "account", "objects read", "bytes", "attacker bytes",
                    "first read", "last read"):
            t.add_column(col, overflow="fold")
        for b in doc["buckets"][:60]:
            t.add_row(rich_safe(b["bucket"], limit=80), rich_safe(b["tenant"] or "-"),
                      rich_safe(b["account"] or "-"), f"{b['objects_read']:,}",
                      human_bytes(b["bytes_out"]), human_bytes(b["attacker_bytes_out"]),
                      _short(b["first_read"]), _short(b["last_read"]))
        console.print(t)
    if doc["objects"]:
        t = Table(title="objects read, most bytes first")
        for col in ("bucket", "object", "reads", "bytes", "attacker reads", "first read"):
            t.add_column(col, overflow="fold")
        for o in doc["objects"][:25]:
            t.add_row(rich_safe(o["bucket"], limit=40), rich_safe(o["key"], limit=80,
                                                                   keep_end=True),
                      f"{o['reads']:,}", human_bytes(o["bytes_out"]),
                      f"{o['attacker_reads']:,}", _short(o["first_read"]))
        console.print(t)
        if len(doc["objects"]) > 25:
            console.print(f"... {len(doc['objects']) - 25:,} more in --format json")
    if doc["tenants"]:
        console.print("tenants affected: " + ", ".join(
            f"{rich_safe(t['tenant'])} ({human_bytes(t['bytes_out'])})" for t in doc["tenants"]))


def _short(iso_time: str | None) -> str:
    """`2026-03-19T08:35:02Z` -> `2026-03-19 08:35`: minutes are enough in a table."""
    return rich_safe(iso_time[:16].replace("T", " ")) if iso_time else "-"


def render_replay_summary(console: Console, summary, replay, interval: float  # type: ignore[no-untyped-def]
                          ) -> None:
    """How fast the replayed attack was caught, in simulated time: from the first attacker
    event, and from the delivery of the file that held it."""
    console.print(f"replay: {replay.delivered} files, {summary.polls} polls every "
                  f"{_duration(interval)} of trail time, {summary.lines} lines out",
                  soft_wrap=True)
    first = summary.first_incident_line
    if first is None:
        console.print("replay: no incident line")
        return
    seen, clock, delivered = first["first_seen"], first["clock"], first.get("delivered")
    console.print(f"first attacker event: {seen:%Y-%m-%d %H:%M:%S}Z"
                  + (f" (its file delivered {delivered:%H:%M}Z)" if delivered else ""),
                  soft_wrap=True)
    line = (f"first incident line: {clock:%Y-%m-%d %H:%M:%S}Z trail time "
            f"({rich_safe(first['severity'])}, {rich_safe(first['incident'])}): "
            f"{_duration((clock - seen).total_seconds())} after the event")
    if delivered is not None:
        lag = (clock - delivered).total_seconds()
        verdict = "within" if lag <= interval else "NOT within"
        line += f", {_duration(lag)} after delivery ({verdict} one polling interval)"
    console.print(line, soft_wrap=True)


def _duration(seconds: float) -> str:
    secs = round(seconds)
    h, rem = divmod(abs(secs), 3600)
    m, s = divmod(rem, 60)
    sign = "-" if secs < 0 else ""
    return f"{sign}{h}h{m:02d}m{s:02d}s" if h else f"{sign}{m}m{s:02d}s"
