"""report.md: the incident report for management, the data-protection officer and clients.

A template of `report.model` (the same content as report.html). Sections (CONTRACT.md):
executive summary; incident details; timeline; attack methodology by ATT&CK tactic; impact
assessment; indicators of compromise (defanged); response actions; lessons and
recommendations with D3FEND ids. Every log-derived run goes through `report.escape`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailhound.correlate.incident import human_bytes
from trailhound.report.escape import md, md_code, md_defang
from trailhound.report.model import TACTIC_NAMES, ReportModel, Seg, Text, build_model, ts

if TYPE_CHECKING:
    from trailhound.hunt import HuntResult

__all__ = ["TACTIC_NAMES", "render_markdown", "render_model"]


def seg(s: Seg) -> str:
    if s.kind == "t":
        return s.text
    if s.kind == "b":
        core = s.text.strip()
        if not core:
            return s.text
        lead = s.text[: len(s.text) - len(s.text.lstrip())]
        return f"{lead}**{core}**{s.text[len(lead) + len(core):]}"
    if s.kind == "code":
        return md_code(s.text)
    if s.kind == "ip":
        return md_defang(s.text)
    if s.kind == "strong":
        return f"**{md(s.text)}**"
    return md(s.text, limit=None)


def text(segs: Text) -> str:
    return "".join(seg(s) for s in segs) or "-"


def render_markdown(result: HuntResult) -> str:
    return render_model(build_model(result))


def render_model(m: ReportModel) -> str:
    out: list[str] = []
    w = out.append
    w("# trailhound incident report\n")
    w(f"Events analysed: **{m.events_analysed:,}**. Incidents: **{len(m.incidents)}**. "
      f"Alerts: **{m.alert_count:,}** from {m.rule_count} rules.\n")
    w("## Executive summary\n")
    if not m.incidents:
        w("No incident was found: no access key or identity shows use by anyone other than its "
          "owner. Alerts, if any, are listed at the end for review.\n")
    for view in m.incidents:
        w(text(view.summary) + "\n")

    for view in m.incidents:
        inc = view.inc
        w(f"## Incident {md(inc.id)}: {md(inc.title, limit=None)}\n")
        w("### Incident details\n")
        w("| | |\n|---|---|")
        for label, value in view.details:
            w(f"| {label} | {text(value)} |")
        w("")
        w("### Timeline\n")
        if view.timeline:
            w("| time (UTC) | what | API | key | from | detail |\n|---|---|---|---|---|---|")
            for r in view.timeline:
                w(f"| {r['time']} | {md(r['what'])} | {md(r['api'])} | {md_code(r['key'])} | "
                  f"{md_defang(r['ip'])} | {text(r['detail'])} |")
            w("")
        if view.daily:
            w("Activity per day:\n")
            w("| day | attacker events | shared events | objects read | bytes read | stages |\n"
              "|---|---:|---:|---:|---:|---|")
            for d in view.daily:
                w(f"| {d['day']} | {d['attacker_events']:,} | {d['shared_events']:,} | "
                  f"{d['objects']:,} | {d['bytes']} | {', '.join(d['stages'])} |")
            w("")
        w("### Attack methodology by ATT&CK tactic\n")
        for tac in view.methodology:
            w(f"**{tac['name']}**\n")
            if not tac["apis"]:
                w("- seen through alerts and volumes (see impact)\n")
                continue
            for api, tech, n, failed in tac["apis"][:8]:
                fail = f", {failed:,} denied or failed" if failed else ""
                w(f"- {md(api)} ({md(tech or '-')}): {n:,} call(s){fail}")
            if len(tac["apis"]) > 8:
                w(f"- and {len(tac['apis']) - 8} more APIs")
            w("")
        w("Techniques: " + ", ".join(md(x) for x in inc.techniques) + "\n")
        w("### Impact assessment\n")
        w(text(view.impact) + "\n")
        if view.buckets:
            w("| bucket | tenant | account | objects read | GetObject calls | bytes | first read "
              "| last read |\n|---|---|---|---:|---:|---:|---|---|")
            for b in view.buckets:
                w(f"| {md(b['name'])} | {md(b['tenant'] or '-')} | {md_code(b['account'])} | "
                  f"{b['objects_read']:,} | {b['get_object_events']:,} | {b['bytes']} | "
                  f"{b['first_read']} | {b['last_read']} |")
            w("")
        w("### Indicators of compromise\n")
        w("Defanged for reading; `incidents.json` and `stix.json` hold the raw values.\n")
        w("| type | value | attacker's first use (UTC) | last use (UTC) | attacker events |\n"
          "|---|---|---|---|---:|")
        for i in view.iocs:
            value, how = i["value"], i["how"]
            shown = md_defang(value) if how == "ip" else (
                md_code(value) if how == "code" else md(value, limit=200))
            events = f"{i['events']:,}" if i["events"] is not None else "-"
            w(f"| {i['type']} | {shown} | {i['first_seen']} | {i['last_seen']} | {events} |")
        w("")
        if view.objects:
            w("Objects read, most bytes first (all reads are in the evidence file):\n")
            w("| bucket | object | reads | bytes | first read (UTC) |\n|---|---|---:|---:|---|")
            for o in view.objects:
                w(f"| {md(o['bucket'])} | {md(o['key'])} | {o['reads']:,} | "
                  f"{human_bytes(o['bytes_out'])} | {ts(o['first_read'])} |")
            w("")
        w("### Response actions\n")
        w("Recommended, in order (`trailhound respond --incident "
          f"{inc.id}` prints the executable plan):\n")
        w("| action | target | why |\n|---|---|---|")
        for a in view.actions:
            target = md_defang(a["target"]) if a["defang"] else md(a["target"], limit=200)
            w(f"| {md(a['action'])} | {target} | {md(a['why'], limit=None)} |")
        w("")

    w("## Lessons and recommendations\n")
    for title, d3, txt in m.lessons:
        w(f"- **{title}** ({d3}): {txt}")
    w("")
    w("## Alerts\n")
    if m.alerts_by_rule:
        w("| rule | severity | alerts | in an incident |\n|---|---|---:|---:|")
        for r in m.alerts_by_rule:
            by = f" (by {md(r['author'])})" if r["author"] else ""
            w(f"| {md(r['rule'])}{by} | {r['severity']} | {r['alerts']:,} | {r['in_incident']:,} |")
        if m.more_rules:
            w(f"\n... and {m.more_rules} more rules; all alerts are in `alerts.ndjson`.")
    else:
        w("No alert.")
    w("")
    return "\n".join(out) + "\n"
