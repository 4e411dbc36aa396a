"""The report's content, built once from a hunt; report.md and report.html are templates of it.

Every sentence of the report is decided here (what to say, in which order, which numbers);
the renderers only escape and lay out. Text is kept as `Seg` runs so a renderer can tell our
own words (`t`) from values that came from a log (`v`, `code`, `strong`, `ip`): only the
latter are attacker-controlled and each format escapes them its own way (Markdown escaping,
Jinja2 autoescape). Nothing here is escaped: escaping is the renderer's job, done once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trailhound.correlate.incident import human_bytes
from trailhound.report.lessons import lessons_for

if TYPE_CHECKING:
    from trailhound.correlate.incident import Incident
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
TACTIC_IDS = {k: v[v.rindex("(") + 1:-1] for k, v in TACTIC_NAMES.items()}


@dataclass(frozen=True)
class Seg:
    """A run of text: `t` our words; `v` a log value; `strong` a value in bold; `code` an
    identifier; `ip` an address to defang; `b` our words in bold."""

    kind: str
    text: str


Text = list[Seg]


def t(s: str) -> Seg:
    return Seg("t", s)


def v(s: object) -> Seg:
    return Seg("v", "" if s is None else str(s))


def code(s: object) -> Seg:
    return Seg("code", "" if s is None else str(s))


def ts(value: Any) -> str:
    """A time as a report shows it (UTC, seconds)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value.replace("T", " ").replace("Z", " UTC")
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class IncidentView:
    inc: Incident
    summary: Text
    details: list[tuple[str, Text]]
    timeline: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    methodology: list[dict[str, Any]]
    impact: Text
    buckets: list[dict[str, Any]]
    tenants: list[dict[str, Any]]
    iocs: list[dict[str, Any]]  # type, value, how (ip | v | code), first/last seen, events
    actions: list[dict[str, Any]]  # recommended actions; `defang`: the target is an IoC
    kpi: dict[str, str]  # the headline numbers, already formatted (no log values)
    objects: list[dict[str, Any]] = field(default_factory=list)  # most bytes first
    investigation: dict[str, Any] | None = None


@dataclass
class ReportModel:
    generated_at: str
    events_analysed: int
    alert_count: int
    rule_count: int
    incidents: list[IncidentView]
    lessons: list[tuple[str, str, str]]
    alerts_by_rule: list[dict[str, Any]]
    more_rules: int = 0
    notes: list[str] = field(default_factory=list)


def build_model(result: HuntResult) -> ReportModel:
    views = [_incident_view(inc, result.details.get(inc.id, {})) for inc in result.incidents]
    stages = {s for i in result.incidents for s in i.stages}
    by_rule: dict[str, list[int]] = {}
    for n, a in enumerate(result.detect.alerts):
        by_rule.setdefault(a.rule_id, []).append(n)
    linked = result.correlation.alert_incident
    ranked = sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    # `author`: the DRL 1.1 of SigmaHQ's rules asks that reports of matches keep it.
    rows = [{"rule": rule, "author": result.detect.alerts[idx[0]].author,
             "severity": result.detect.alerts[idx[0]].severity,
             "alerts": len(idx), "in_incident": sum(1 for i in idx if i in linked)}
            for rule, idx in ranked[:30]]
    return ReportModel(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        events_analysed=result.events_analysed, alert_count=len(result.detect.alerts),
        rule_count=len(result.detect.timings), incidents=views,
        lessons=lessons_for(stages, bool(result.incidents)), alerts_by_rule=rows,
        more_rules=max(0, len(ranked) - 30))


def _incident_view(inc: Incident, details: dict[str, Any]) -> IncidentView:
    inv = details.get("investigation")
    tenants = sorted({b.tenant for b in inc.buckets if b.tenant})
    objects = sum(b.objects_read for b in inc.buckets)
    return IncidentView(
        inc=inc, summary=summary(inc),
        details=[
            ("Severity", [Seg("b", inc.severity), t(f" (confidence {inc.confidence:.2f})")]),
            ("First attacker activity", [t(ts(inc.first_seen))]),
            ("Last attacker activity", [t(ts(inc.last_seen)
                                          + (" (still going on)" if inc.ongoing else ""))]),
            ("Accounts", _join([code(a) for a in inc.accounts])),
            ("Stolen / root credential", [code(inc.root_access_key or inc.root_principal
                                                or "-")]),
            ("Keys in the lineage", _join([code(k) for k in inc.access_keys])),
            ("Identities", _join([code(p) for p in inc.principals])),
            ("Events", [t(f"{inc.event_count:,} attributed: {inc.attacker_events:,} to the "
                          f"attacker, {inc.shared_events:,} shared with legitimate use")]),
            ("Why this is an incident", [v("; ".join(inc.evidence_reasons))]),
            ("Owner's history before the attack",
             [t("unknown" if inc.history_days is None else f"{inc.history_days:g} days")]),
            *([("Read this first", [v(" ".join(inc.warnings))])] if inc.warnings else []),
        ],
        timeline=[_milestone(m) for m in details.get("milestones", [])],
        daily=[{**d, "bytes": human_bytes(d["bytes_out"])} for d in details.get("daily", [])],
        methodology=[{"stage": s, "name": TACTIC_NAMES.get(s, s),
                      "apis": details.get("stages", {}).get(s, [])} for s in inc.stages],
        impact=([t("The attacker read "), Seg("b", human_bytes(inc.bytes_out)),
                 t(f" ({objects:,} distinct objects) from "), Seg("b", str(len(inc.buckets))),
                 t(" bucket(s)")]
                + ([t(" belonging to "), Seg("b", str(len(tenants))), t(" tenant(s): "),
                    *_join([v(x) for x in tenants])] if tenants else []) + [t(".")])
        if inc.buckets else
        [t("No object was read by the attacker from S3 in the analysed logs (S3 data events "
           "must be enabled on the trail for reads to be visible).")],
        buckets=[{"name": b.name, "tenant": b.tenant, "account": b.account,
                  "objects_read": b.objects_read, "get_object_events": b.get_object_events,
                  "bytes_out": b.bytes_out, "bytes": human_bytes(b.bytes_out),
                  "first_read": ts(b.first_read), "last_read": ts(b.last_read)}
                 for b in inc.buckets],
        tenants=_tenants(inc),
        iocs=_iocs(inc, inv),
        objects=(inv or {}).get("objects", [])[:50],
        actions=[{**a, "defang": a["action"] == "block-source-ip"}
                 for a in inc.recommended_actions], investigation=inv,
        kpi={"since": ts(inc.first_seen), "last": ts(inc.last_seen),
             "bytes": human_bytes(inc.bytes_out), "objects": f"{objects:,}"})


def _iocs(inc: Incident, inv: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Indicators with when and how often the attacker used each (from the investigation,
    when the hunt made one): attacker events only, so a stolen key's first-seen is the theft,
    not its owner's first use."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, key in (("ip", "source_ips"), ("ua", "user_agents")):
        for row in (inv or {}).get(key, []):
            seen[(kind, row["value"])] = row
    keys = {n["key"]: n for n in ((inv or {}).get("lineage") or {}).get("keys", [])}

    def row(kind: str, value: str, how: str, info: dict[str, Any] | None) -> dict[str, Any]:
        info = info or {}
        return {"type": kind, "value": value, "how": how,
                "first_seen": ts(info.get("attacker_first_seen")),
                "last_seen": ts(info.get("attacker_last_seen")),
                "events": info.get("attacker_events")}

    return ([row("IP address", ip, "ip", seen.get(("ip", ip))) for ip in inc.source_ips]
            + [row("user agent", ua, "v", seen.get(("ua", ua))) for ua in inc.user_agents]
            + [row("access key", k, "code", keys.get(k)) for k in inc.access_keys]
            + [row("identity", p, "code", None) for p in inc.principals])


def _tenants(inc: Incident) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for b in inc.buckets:
        name = b.tenant or "(no tenant mapped)"
        row = out.setdefault(name, {"tenant": name, "buckets": 0, "objects_read": 0,
                                    "bytes_out": 0})
        row["buckets"] += 1
        row["objects_read"] += b.objects_read
        row["bytes_out"] += b.bytes_out
    rows = sorted(out.values(), key=lambda r: (-r["bytes_out"], r["tenant"]))
    for r in rows:
        r["bytes"] = human_bytes(r["bytes_out"])
    return rows


def _milestone(m: dict[str, Any]) -> dict[str, Any]:
    detail: Text = []
    if m.get("created_access_key_id"):
        detail += [t("new key "), code(m["created_access_key_id"]), t(" for "),
                   v(m.get("target_user"))]
    if m.get("assumed_role_arn"):
        detail += [t("; " if detail else ""), t("role "), code(m["assumed_role_arn"])]
    if m.get("error_code"):
        detail += [t("; " if detail else ""), t("failed: "), v(m["error_code"])]
    if m.get("user_agent") and "first attacker activity" in m["what"]:
        detail += [t("; " if detail else ""), t("user agent "), v(m["user_agent"])]
    return {"time": ts(m["time"]), "what": ", ".join(m["what"]), "api": m["event_name"],
            "key": m["access_key_id"], "ip": m["source_ip"], "stage": m.get("stage"),
            "detail": detail, "raw_time": m["time"]}


def _join(segs: list[Seg], sep: str = ", ") -> Text:
    out: Text = []
    for n, s in enumerate(segs):
        if n:
            out.append(t(sep))
        out.append(s)
    return out or [t("-")]


def summary(inc: Incident) -> Text:
    """The executive summary of one incident in plain words: which key, whose, since when,
    from where, what the attacker did and took, whether it goes on, what to do first."""
    created_users = {u for _, u in inc.created_keys}
    root_user = next((p.rsplit("/", 1)[-1] for p in inc.principals if ":user/" in p
                      and p.rsplit("/", 1)[-1] not in created_users), None)
    out: Text = [Seg("strong", inc.id), t(f" ({inc.severity}): the AWS access key "),
                 code(inc.root_access_key)]
    if root_user:
        out += [t(" of IAM user "), v(root_user)]
    out += [t(f" was used by someone other than its owner from {ts(inc.first_seen)} to "
              f"{ts(inc.last_seen)}, from {len(inc.source_ips)} address(es) (")]
    out += _join([Seg("ip", ip) for ip in inc.source_ips[:5]])
    out.append(t(")."))
    did: list[Text] = []
    if "credential-validation" in inc.stages:
        did.append([t("checked that the key works")])
    if inc.created_keys:
        did.append([t("created a new access key for "),
                    *_join([v(u or "?") for _, u in inc.created_keys])])
    if "discovery" in inc.stages:
        did.append([t("explored the account")])
    if inc.assumed_roles:
        did.append([t(f"took on {len(set(inc.assumed_roles))} role session(s)"
                      + (" in other accounts" if len(inc.accounts) > 1 else ""))])
    if inc.buckets:
        tenants = sorted({b.tenant for b in inc.buckets if b.tenant})
        read: Text = [t("read "), Seg("b", human_bytes(inc.bytes_out)),
                      t(f" ({sum(b.objects_read for b in inc.buckets):,} objects) from "
                        f"{len(inc.buckets)} S3 bucket(s)")]
        if tenants:  # whom to tell, by name, the biggest losses first
            ranked = [r["tenant"] for r in _tenants(inc) if r["tenant"] in tenants]
            read += [t(f" of {len(tenants)} client(s): "), *_join([v(x) for x in ranked[:5]])]
            if len(ranked) > 5:
                read.append(t(f" and {len(ranked) - 5} more"))
        did.append(read)
    if "defense-evasion" in inc.stages:
        did.append([t("tampered with logging or detection")])
    if did:
        out.append(t(" The attacker "))
        for n, part in enumerate(did):
            if n:
                out.append(t("; "))
            out += part
        out.append(t("."))
    out.append(Seg("b", " It is still going on.") if inc.ongoing else
               t(f" The last attacker activity in the logs is {ts(inc.last_seen)}."))
    first = inc.recommended_actions[0] if inc.recommended_actions else None
    if first:
        out += [t(" First action: "), v(first["action"]), t(" "), code(first["target"]),
                t(".")]
    return out
