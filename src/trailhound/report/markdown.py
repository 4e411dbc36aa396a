"""report.md: the incident report for management, the data-protection officer and clients.

Sections (CONTRACT.md): executive summary; incident details; timeline; attack methodology by
ATT&CK tactic; impact assessment; indicators of compromise (defanged); response actions;
lessons and recommendations with D3FEND ids. Every log-derived string goes through
`report.escape`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trailhound.correlate.incident import human_bytes
from trailhound.report.escape import defang, md, md_code
from trailhound.report.lessons import lessons_for

if TYPE_CHECKING:
    from trailhound.hunt import HuntResult

TACTIC_NAMES = {
    "credential-validation": "Initial access: valid cloud credentials (TA0001)",
    "discovery": "Discovery (TA0007)",
    "persistence": "Persistence (TA0003)",
    "privilege-escalation": "Privilege escalation (TA0004)",
    "lateral-movement": "Lateral movement (TA0008)",
    "collection": "Collection (TA0009)",
    "exfiltration": "Exfiltration (TA0010)",
    "defense-evasion": "Defense evasion (TA0005)",
    "impact": "Impact (TA0040)",
}


def _t(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return md(value)


def render_markdown(result: HuntResult) -> str:
    out: list[str] = []
    w = out.append
    w("# trailhound incident report\n")
    w(f"Events analysed: **{result.events_analysed:,}**. Incidents: **{len(result.incidents)}**. "
      f"Alerts: **{len(result.detect.alerts):,}** from {len(result.detect.timings)} rules.\n")

    w("## Executive summary\n")
    if not result.incidents:
        w("No incident was found: no access key or identity shows use by anyone other than its "
          "owner. Alerts, if any, are listed at the end for review.\n")
    for inc in result.incidents:
        w(_summary(inc, result) + "\n")

    for inc in result.incidents:
        details = result.details.get(inc.id, {})
        w(f"## Incident {md(inc.id)}: {md(inc.title, limit=None)}\n")
        w("### Incident details\n")
        w("| | |\n|---|---|")
        rows = [
            ("Severity", f"**{inc.severity}** (confidence {inc.confidence:.2f})"),
            ("First attacker activity", _t(inc.first_seen)),
            ("Last attacker activity", _t(inc.last_seen)
             + (" (still going on)" if inc.ongoing else "")),
            ("Accounts", ", ".join(md_code(a) for a in inc.accounts) or "-"),
            ("Stolen / root key", md_code(inc.root_access_key)),
            ("Keys in the lineage", ", ".join(md_code(k) for k in inc.access_keys)),
            ("Identities", "<br>".join(md_code(p) for p in inc.principals) or "-"),
            ("Events", f"{inc.event_count:,} attributed: {inc.attacker_events:,} to the "
                       f"attacker, {inc.shared_events:,} shared with legitimate use"),
            ("Why this is an incident", md("; ".join(inc.evidence_reasons), limit=None)),
        ]
        for k, v in rows:
            w(f"| {k} | {v} |")
        w("")
        w("### Timeline\n")
        ms = details.get("milestones", [])
        if ms:
            w("| time (UTC) | what | API | key | from | detail |\n|---|---|---|---|---|---|")
            for m in ms:
                detail = []
                if m.get("created_access_key_id"):
                    detail.append(f"new key {md_code(m['created_access_key_id'])} for "
                                  f"{md(m.get('target_user'))}")
                if m.get("assumed_role_arn"):
                    detail.append(f"role {md_code(m['assumed_role_arn'])}")
                if m.get("error_code"):
                    detail.append(f"failed: {md(m['error_code'])}")
                if m.get("user_agent") and "first attacker activity" in m["what"]:
                    detail.append(f"user agent {md(m['user_agent'], limit=80)}")
                w(f"| {_t(m['time'])} | {md(', '.join(m['what']))} | {md(m['event_name'])} | "
                  f"{md_code(m['access_key_id'])} | {defang(m['source_ip'])} | "
                  f"{'; '.join(detail) or '-'} |")
            w("")
        daily = details.get("daily", [])
        if daily:
            w("Activity per day:\n")
            w("| day | attacker events | shared events | objects read | bytes read | stages |\n"
              "|---|---:|---:|---:|---:|---|")
            for d in daily:
                w(f"| {d['day']} | {d['attacker_events']:,} | {d['shared_events']:,} | "
                  f"{d['objects']:,} | {human_bytes(d['bytes_out'])} | "
                  f"{', '.join(d['stages'])} |")
            w("")
        w("### Attack methodology by ATT&CK tactic\n")
        summary = details.get("stages", {})
        for stage in inc.stages:
            w(f"**{TACTIC_NAMES.get(stage, stage)}**\n")
            apis = summary.get(stage, [])
            if not apis:
                w("- seen through alerts and volumes (see impact)\n")
                continue
            for api, tech, n, failed in apis[:8]:
                fail = f", {failed:,} denied or failed" if failed else ""
                w(f"- {md(api)} ({md(tech or '-')}): {n:,} call(s){fail}")
            if len(apis) > 8:
                w(f"- and {len(apis) - 8} more APIs")
            w("")
        w("Techniques: " + ", ".join(md(t) for t in inc.techniques) + "\n")
        w("### Impact assessment\n")
        if inc.buckets:
            tenants = sorted({b.tenant for b in inc.buckets if b.tenant})
            w(f"The attacker read **{human_bytes(inc.bytes_out)}** "
              f"({sum(b.objects_read for b in inc.buckets):,} distinct objects) from "
              f"**{len(inc.buckets)}** bucket(s)"
              + (f" belonging to **{len(tenants)}** tenant(s)" if tenants else "") + ".\n")
            w("| bucket | tenant | account | objects read | GetObject calls | bytes | first read "
              "| last read |\n|---|---|---|---:|---:|---:|---|---|")
            for b in inc.buckets:
                w(f"| {md(b.name)} | {md(b.tenant or '-')} | {md_code(b.account)} | "
                  f"{b.objects_read:,} | {b.get_object_events:,} | {human_bytes(b.bytes_out)} | "
                  f"{_t(b.first_read)} | {_t(b.last_read)} |")
            w("")
        else:
            w("No object was read by the attacker from S3 in the analysed logs (S3 data events "
              "must be enabled on the trail for reads to be visible).\n")
        w("### Indicators of compromise\n")
        w("Defanged for reading; `incidents.json` and `stix.json` hold the raw values.\n")
        w("| type | value |\n|---|---|")
        for ip in inc.source_ips:
            w(f"| IP address | {defang(ip)} |")
        for ua in inc.user_agents:
            w(f"| user agent | {md(ua, limit=200)} |")
        for k in inc.access_keys:
            w(f"| access key | {md_code(k)} |")
        for p in inc.principals:
            w(f"| identity | {md_code(p)} |")
        w("")
        w("### Response actions\n")
        w("Recommended, in order (`trailhound respond --incident "
          f"{inc.id}` prints the executable plan):\n")
        w("| action | target | why |\n|---|---|---|")
        for a in inc.recommended_actions:
            w(f"| {md(a['action'])} | {md(a['target'], limit=200)} | {md(a['why'], limit=None)} |")
        w("")

    w("## Lessons and recommendations\n")
    stages = {s for i in result.incidents for s in i.stages}
    for title, d3, text in lessons_for(stages, bool(result.incidents)):
        w(f"- **{title}** ({d3}): {text}")
    w("")
    w("## Alerts\n")
    by_rule: dict[str, list[int]] = {}
    linked = result.correlation.alert_incident
    for n, a in enumerate(result.detect.alerts):
        by_rule.setdefault(a.rule_id, []).append(n)
    if by_rule:
        w("| rule | severity | alerts | in an incident |\n|---|---|---:|---:|")
        ranked = sorted(by_rule.items(), key=lambda kv: -len(kv[1]))
        for rule, idx in ranked[:30]:
            sev = result.detect.alerts[idx[0]].severity
            w(f"| {md(rule)} | {sev} | {len(idx):,} | {sum(1 for i in idx if i in linked):,} |")
        if len(ranked) > 30:
            w(f"\n... and {len(ranked) - 30} more rules; all alerts are in `alerts.ndjson`.")
    else:
        w("No alert.")
    w("")
    return "\n".join(out) + "\n"


def _summary(inc: Any, result: Any) -> str:
    root_user = next((p.rsplit("/", 1)[-1] for p in inc.principals if ":user/" in p
                      and not any(u == p.rsplit("/", 1)[-1] for _, u in inc.created_keys)),
                     None)
    who = f" of IAM user {md(root_user)}" if root_user else ""
    parts = [f"**{md(inc.id)}** ({inc.severity}): the AWS access key {md_code(inc.root_access_key)}"
             f"{who} was used by someone other than its owner from {_t(inc.first_seen)} to "
             f"{_t(inc.last_seen)}, from {len(inc.source_ips)} address(es) "
             f"({', '.join(defang(i) for i in inc.source_ips[:5])})."]
    did = []
    if "credential-validation" in inc.stages:
        did.append("checked that the key works")
    if inc.created_keys:
        did.append("created a new access key for "
                   + ", ".join(md(u or "?") for _, u in inc.created_keys))
    if "discovery" in inc.stages:
        did.append("explored the account")
    if inc.assumed_roles:
        did.append(f"took on {len(set(inc.assumed_roles))} role session(s)"
                   + (" in other accounts" if len(inc.accounts) > 1 else ""))
    if inc.buckets:
        tenants = sorted({b.tenant for b in inc.buckets if b.tenant})
        did.append(f"read {human_bytes(inc.bytes_out)} "
                   f"({sum(b.objects_read for b in inc.buckets):,} objects) from "
                   f"{len(inc.buckets)} S3 bucket(s)"
                   + (f" of {len(tenants)} client(s)" if tenants else ""))
    if "defense-evasion" in inc.stages:
        did.append("tampered with logging or detection")
    if did:
        parts.append("The attacker " + "; ".join(did) + ".")
    parts.append("It is **still going on**." if inc.ongoing else
                 f"The last attacker activity in the logs is {_t(inc.last_seen)}.")
    first = inc.recommended_actions[0] if inc.recommended_actions else None
    if first:
        parts.append(f"First action: {md(first['action'])} {md_code(first['target'])}.")
    return " ".join(parts)
