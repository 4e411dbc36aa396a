"""The incident record of CONTRACT.md, its severity from stages, its title and actions.

Severity comes from which stages the attacker's events cover, never from how many alerts
fired (`policy.yml`, `severity`): ten thousand GetObject alerts are one stage; validation + a
key for another user + mass reads are the whole chain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trailhound.correlate.policy import STAGES


def incident_id(root: str) -> str:
    """Stable across runs and machines: derived from the root credential (or principal)."""
    return "INC-" + hashlib.sha256(root.encode()).hexdigest()[:12].upper()


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


@dataclass
class Bucket:
    name: str
    account: str | None
    objects_read: int
    get_object_events: int
    bytes_out: int
    tenant: str | None
    first_read: datetime | None = None
    last_read: datetime | None = None
    # Successful reads whose record gives no usable size (absent, or impossible and
    # repaired): data left all the same, in an amount `bytes_out` does not include.
    reads_of_unknown_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "account": self.account, "objects_read": self.objects_read,
            "get_object_events": self.get_object_events, "bytes_out": self.bytes_out,
            "tenant": self.tenant,
            "first_read": _iso(self.first_read), "last_read": _iso(self.last_read),
            "reads_of_unknown_size": self.reads_of_unknown_size,
        }


@dataclass
class Incident:
    id: str
    root_access_key: str | None  # None when the attacker's root holds no key (a console sign-in)
    access_keys: list[str]
    principals: list[str]
    accounts: list[str]
    source_ips: list[str]
    user_agents: list[str]
    stages: list[str]
    techniques: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    event_count: int
    attacker_events: int
    shared_events: int
    buckets: list[Bucket]
    alerts: list[dict[str, Any]]
    severity: str = "low"
    confidence: float = 0.0
    title: str = ""
    created_keys: list[tuple[str, str | None]] = field(default_factory=list)  # (key, user)
    assumed_roles: list[str] = field(default_factory=list)
    legitimate_ips_of_root: list[str] = field(default_factory=list)
    evidence_reasons: list[str] = field(default_factory=list)
    recommended_actions: list[dict[str, str]] = field(default_factory=list)
    ongoing: bool = False
    validation_only: bool = False
    root_principal: str | None = None
    history_days: float | None = None
    warnings: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)  # typed, per credential

    @property
    def bytes_out(self) -> int:
        return sum(b.bytes_out for b in self.buckets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "confidence": self.confidence,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "root_access_key": self.root_access_key,
            "access_keys": self.access_keys,
            "principals": self.principals,
            "accounts": self.accounts,
            "source_ips": self.source_ips,
            "user_agents": self.user_agents,
            "stages": self.stages,
            "techniques": self.techniques,
            "resources": {"s3_buckets": [b.to_dict() for b in self.buckets]},
            "alerts": self.alerts,
            "event_count": self.event_count,
            "attacker_event_count": self.attacker_events,
            "shared_event_count": self.shared_events,
            "bytes_out": self.bytes_out,
            "ongoing": self.ongoing,
            "evidence_reasons": self.evidence_reasons,
            "evidence": self.evidence,
            "root_principal": self.root_principal,
            "history_days": self.history_days,
            "warnings": self.warnings,
            "recommended_actions": self.recommended_actions,
        }


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def order_stages(stages: set[str]) -> list[str]:
    return [s for s in STAGES if s in stages]


def title_of(inc: Incident) -> str:
    key = inc.root_access_key
    if inc.validation_only:
        return (f"Access key {key or inc.root_principal} validated from new infrastructure "
                "(leaked; not yet used for anything else)")
    if key is None:
        parts = [f"Console sign-in as {inc.root_principal or '?'} by the attacker"]
    elif key.startswith("AKIA"):
        parts = [f"Stolen access key {key} used from new infrastructure"]
    else:
        parts = [f"Stolen credentials {key} used from new infrastructure"]
    users = sorted({u for _, u in inc.created_keys if u})
    if users:
        parts.append("new key created for " + ", ".join(users[:3])
                     + (f" and {len(users) - 3} more" if len(users) > 3 else ""))
    if inc.assumed_roles:
        roles = sorted({r.split("/")[-2] if "/" in r else r for r in inc.assumed_roles})
        cross = len(inc.accounts) > 1
        parts.append(("role " if len(roles) == 1 else "roles ") + ", ".join(roles[:3])
                     + (" assumed across accounts" if cross else " assumed"))
    if inc.bytes_out:
        parts.append(f"{human_bytes(inc.bytes_out)} read from S3")
    elif inc.buckets:
        parts.append(f"objects read from {len(inc.buckets)} S3 bucket(s)")
    return "; ".join(parts)


def actions_of(inc: Incident, *, root_has_legitimate_use: bool) -> list[dict[str, str]]:
    acts: list[dict[str, str]] = []
    why_root = "the key was used by the attacker"
    if root_has_legitimate_use:
        why_root += ("; its owner still uses it from "
                     + ", ".join(inc.legitimate_ips_of_root[:3] or ["known networks"])
                     + ": issue the owner a new credential first, or accept the outage")
    if inc.root_access_key and inc.root_access_key.startswith("AKIA"):
        acts.append({"action": "deactivate-access-key", "target": inc.root_access_key,
                     "why": why_root})
    for key, user in inc.created_keys:
        acts.append({"action": "deactivate-access-key", "target": key,
                     "why": f"created by the attacker on IAM user {user or '?'}"})
        acts.append({"action": "delete-access-key", "target": key,
                     "why": "attacker-created key; delete once evidence is preserved"})
    roles = {_role_of_session(r) for r in inc.assumed_roles}
    stolen_role = (inc.root_principal if inc.root_access_key
                   and not inc.root_access_key.startswith("AKIA") and inc.root_principal
                   and ":role/" in inc.root_principal else None)
    if stolen_role:
        roles.add(stolen_role)
    for role_arn in sorted(roles):
        acts.append({"action": "revoke-role-sessions", "target": role_arn,
                     "why": "the attacker held sessions of this role; deny tokens issued "
                            "before now (aws:TokenIssueTime)"})
    for p in inc.principals:
        if ":user/" in p:
            acts.append({"action": "attach-deny-all-policy", "target": p,
                         "why": "contain the identity while credentials are rotated"})
    for ip in inc.source_ips[:20]:
        acts.append({"action": "block-source-ip", "target": ip,
                     "why": "attacker infrastructure seen on this lineage"})
    if "defense-evasion" in inc.stages:
        acts.append({"action": "restore-logging", "target": ",".join(inc.accounts),
                     "why": "the attacker tampered with logging or detection"})
    tenants = sorted({b.tenant for b in inc.buckets if b.tenant})
    if inc.buckets:
        acts.append({"action": "notify-data-owners",
                     "target": ", ".join(tenants) if tenants else
                     ", ".join(b.name for b in inc.buckets[:10]),
                     "why": f"{human_bytes(inc.bytes_out)} read from "
                            f"{len(inc.buckets)} bucket(s)"})
    acts.append({"action": "preserve-evidence", "target": inc.id,
                 "why": "copy CloudTrail and key metadata before changing anything"})
    return acts


def _role_of_session(arn: str) -> str:
    # arn:aws:sts::123:assumed-role/Role/session -> arn:aws:iam::123:role/Role
    if ":assumed-role/" in arn:
        head, _, rest = arn.partition(":assumed-role/")
        role = rest.split("/")[0]
        return head.replace(":sts:", ":iam:") + f":role/{role}"
    return arn
