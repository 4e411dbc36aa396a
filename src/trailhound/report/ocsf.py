"""ocsf.json: the incidents' findings as OCSF Detection Finding events (class_uid 2004).

For SIEMs and data lakes that speak OCSF (Security Lake, Splunk, Sentinel connectors). Written
against OCSF schema **1.8.0** (`metadata.version`); the tests validate every event against the
vendored 1.8.0 schema files (required attributes, types, enums, constraints).

Per incident: one finding for the correlated incident itself (the lineage: every key,
identity, attacker address, bucket read, ATT&CK technique and the recommended actions), then
one finding per detection rule that contributed alerts to it (rule as `analytic`, its
techniques, first/last alert, the keys and addresses it fired on). All values are raw, as in
incidents.json: this is data for machines, escaped by JSON encoding alone.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trailhound import __version__
from trailhound.report.attack import TACTICS, technique_name, technique_stage
from trailhound.termsafe import json_bytes

if TYPE_CHECKING:
    from trailhound.correlate.incident import Incident
    from trailhound.hunt import HuntResult
    from trailhound.rules.model import Alert

OCSF_VERSION = "1.8.0"
CLASS_UID, CATEGORY_UID, ACTIVITY_CREATE = 2004, 2, 1
SEVERITY_IDS = {"low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
OBS_IP, OBS_USER_AGENT, OBS_CREDENTIAL, OBS_RESOURCE, OBS_USERNAME = 2, 16, 19, 10, 4
MAX_EVIDENCES = 50


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.replace(tzinfo=UTC).timestamp() * 1000)


def _confidence(c: float) -> tuple[int, str]:
    return (3, "High") if c >= 0.8 else (2, "Medium") if c >= 0.5 else (1, "Low")


def _attacks(techniques: list[str] | tuple[str, ...], stage: str | None = None
             ) -> list[dict[str, Any]]:
    out = []
    for tid in techniques:
        entry: dict[str, Any] = {"technique": {"uid": tid, "name": technique_name(tid)},
                                 "version": "ATT&CK Enterprise"}
        tactic = TACTICS.get(technique_stage(tid) or stage or "")
        if tactic:
            entry["tactic"] = {"uid": tactic[0], "name": tactic[1]}
        out.append(entry)
    return out


def _endpoint(addr: str) -> dict[str, Any]:
    """CloudTrail's sourceIPAddress is an IP, or a service name when AWS made the call."""
    try:
        ipaddress.ip_address(addr)
        return {"ip": addr}
    except ValueError:
        return {"svc_name": addr}


def _base(severity: str, confidence: float, when: datetime, title: str) -> dict[str, Any]:
    sev = SEVERITY_IDS.get(severity, 0)
    cid, cname = _confidence(confidence)
    return {
        "activity_id": ACTIVITY_CREATE, "activity_name": "Create",
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "class_uid": CLASS_UID, "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE, "type_name": "Detection Finding: Create",
        "severity_id": sev, "severity": SEVERITY_NAMES.get(sev, "Unknown"),
        "confidence_id": cid, "confidence": cname,
        "confidence_score": round(confidence * 100),
        "status_id": 1, "status": "New", "is_alert": True,
        "time": _ms(when), "message": title,
        "metadata": {"version": OCSF_VERSION, "log_name": "trailhound",
                     "product": {"name": "trailhound", "vendor_name": "trailhound",
                                 "version": __version__}},
    }


def incident_finding(inc: Incident, now: datetime,
                     key_owners: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The correlated incident; `key_owners` (key -> principal ARN, from the investigation)
    names the identity behind each key."""
    ev = _base(inc.severity, inc.confidence, now, inc.title or inc.id)
    ev["start_time"], ev["end_time"] = _ms(inc.first_seen), _ms(inc.last_seen)
    ev["count"] = inc.attacker_events
    ev["finding_info"] = {
        "uid": inc.id, "title": inc.title or inc.id,
        "desc": "; ".join(inc.evidence_reasons) or None,
        "types": ["Stolen cloud credential", *inc.stages],
        "created_time": _ms(now), "first_seen_time": _ms(inc.first_seen),
        "last_seen_time": _ms(inc.last_seen), "related_events_count": inc.event_count,
        "analytic": {"uid": "trailhound.correlate.lineage", "type_id": 2,
                     "type": "Behavioral",
                     "name": "Stolen-key lineage correlation (keys created, sessions "
                             "obtained, data read)"},
        "attacks": _attacks(inc.techniques),
    }
    users = dict(inc.created_keys)
    owners = key_owners or {}
    evidences: list[dict[str, Any]] = []
    for key in inc.access_keys:
        arn = owners.get(key)
        name = users.get(key) or (arn.rsplit("/", 1)[-1] if arn else None)
        user = _prune({"credential_uid": key, "uid": arn, "name": name or "unknown"})
        evidences.append({"actor": {"user": user}, "name": "access key"})
    for p in inc.principals:
        evidences.append({"actor": {"user": {"uid": p, "name": p.rsplit("/", 1)[-1]}},
                          "name": "identity"})
    for ip in inc.source_ips:
        evidences.append({"src_endpoint": _endpoint(ip), "name": "attacker address"})
    ev["evidences"] = evidences[:MAX_EVIDENCES]
    resources = [{"uid": f"arn:aws:s3:::{b.name}", "name": b.name, "type": "AWS::S3::Bucket",
                  "owner": {"account": {"uid": b.account, "type_id": 10,
                                        "type": "AWS Account"}} if b.account else None,
                  "labels": [f"tenant:{b.tenant}"] if b.tenant else None,
                  "data": {"objects_read": b.objects_read,
                           "get_object_events": b.get_object_events,
                           "bytes_out": b.bytes_out}}
                 for b in inc.buckets]
    ev["resources"] = [_prune(r) for r in resources] or None
    obs = [{"type_id": OBS_IP, "type": "IP Address", "name": "src_endpoint.ip", "value": ip}
           for ip in inc.source_ips if "ip" in _endpoint(ip)]
    obs += [{"type_id": OBS_USER_AGENT, "type": "HTTP User-Agent",
             "name": "http_request.user_agent", "value": ua} for ua in inc.user_agents]
    obs += [{"type_id": OBS_CREDENTIAL, "type": "User Credential ID",
             "name": "actor.user.credential_uid", "value": k} for k in inc.access_keys]
    obs += [{"type_id": OBS_RESOURCE, "type": "Resource UID", "name": "resources.uid",
             "value": f"arn:aws:s3:::{b.name}"} for b in inc.buckets]
    ev["observables"] = obs or None
    if inc.recommended_actions:
        ev["remediation"] = {"desc": "; ".join(
            f"{a['action']} {a['target']}" for a in inc.recommended_actions)}
    return _prune(ev)


def rule_finding(inc: Incident, rule_id: str, alerts: list[Alert], now: datetime
                 ) -> dict[str, Any]:
    first = min(a.event_time for a in alerts)
    last = max(a.last_event_time for a in alerts)
    worst = max(alerts, key=lambda a: SEVERITY_IDS.get(a.severity, 0))
    techniques = sorted({t for a in alerts for t in a.techniques})
    ev = _base(worst.severity, inc.confidence, now, worst.title)
    ev["start_time"], ev["end_time"] = _ms(first), _ms(last)
    ev["count"] = len(alerts)
    ev["finding_info"] = {
        "uid": f"{inc.id}:{rule_id}", "title": worst.title,
        "types": [s for s in {a.stage for a in alerts} if s] or None,
        "created_time": _ms(now), "first_seen_time": _ms(first), "last_seen_time": _ms(last),
        "related_events_count": sum(len(a.event_ids) for a in alerts),
        "analytic": {"uid": rule_id, "name": worst.title, "type_id": 1, "type": "Rule"},
        "attacks": _attacks(techniques, worst.stage) or None,
        "tags": [{"name": "incident", "value": inc.id}],
    }
    evidences = []
    seen: set[tuple[Any, ...]] = set()
    for a in alerts:
        k = (a.access_key_id, a.principal_arn, a.source_ip)
        if k in seen:
            continue
        seen.add(k)
        e: dict[str, Any] = {}
        user = _prune({"credential_uid": a.access_key_id, "uid": a.principal_arn,
                       "name": a.principal_arn.rsplit("/", 1)[-1] if a.principal_arn
                       else None})
        if user:
            e["actor"] = {"user": user}
        if a.source_ip:
            e["src_endpoint"] = _endpoint(a.source_ip)
        if e:
            evidences.append(e)
    ev["evidences"] = evidences[:MAX_EVIDENCES] or None
    return _prune(ev)


def build_events(result: HuntResult, *, now: datetime | None = None) -> list[dict[str, Any]]:
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    by_incident: dict[str, dict[str, list[Alert]]] = {}
    for n, a in enumerate(result.detect.alerts):
        iid = result.correlation.alert_incident.get(n)
        if iid:
            by_incident.setdefault(iid, {}).setdefault(a.rule_id, []).append(a)
    events = []
    for inc in result.incidents:
        inv = result.details.get(inc.id, {}).get("investigation") or {}
        owners = {k["key"]: k["principal"] for k in (inv.get("lineage") or {}).get("keys", [])}
        events.append(incident_finding(inc, now, owners))
        for rule_id, alerts in sorted(by_incident.get(inc.id, {}).items()):
            events.append(rule_finding(inc, rule_id, alerts, now))
    return events


def render_ocsf(result: HuntResult, *, now: datetime | None = None) -> str:
    """A JSON array of Detection Finding events, one document for the whole hunt."""
    return json_bytes(build_events(result, now=now), indent=True).decode() + "\n"


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    """Drop absent values: OCSF has no null attributes, only missing ones."""
    return {k: v for k, v in d.items() if v is not None and v != []}
