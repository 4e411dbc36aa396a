"""The containment plan: ordered steps, each with its exact AWS call, what it breaks, and
how to undo it.

Order follows what CERT-EU advised for the stolen-key attack, made safe: evidence first (key
metadata changes the moment a key is touched), then cut the attacker's credentials
(deactivate, never delete first, so a wrong call can be undone), then revoke the sessions those
credentials obtained, then deny the identities themselves, and only then delete what the
attacker created. Bucket access changes, network blocks and notifications follow as manual
steps: they need a human's judgement, and a tool guessing them would do harm.

Step ids are derived from action and target only, never from position, so a plan rebuilt on
a later run names the same steps and the action log can tell which are done.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trailhound.respond.facts import Facts, KeyFacts, LegitUse, account_of_arn, iso

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"  # the name the IAM console uses
QUARANTINE_PREFIX = "trailhound-quarantine-"

AUTOMATIC = "automatic"
MANUAL = "manual"


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call, exactly as `--execute` makes it (and the AWS CLI line for it)."""

    service: str
    operation: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "operation": self.operation, "params": self.params}

    def cli(self) -> str:
        op = "".join("-" + c.lower() if c.isupper() else c for c in self.operation).lstrip("-")
        args = []
        for k, v in self.params.items():
            flag = "".join("-" + c.lower() if c.isupper() else c for c in k).lstrip("-")
            val = json.dumps(v, separators=(",", ":")) if isinstance(v, dict) else str(v)
            args.append(f"--{flag} {_shell_quote(val)}")
        return " ".join([f"aws {self.service} {op}", *args])


def _shell_quote(s: str) -> str:
    # Names in these commands come from the logs (user, role, bucket names): a command a
    # responder pastes must never run what a log field holds.
    return shlex.quote(s)


@dataclass
class Step:
    id: str
    action: str
    target: str
    why: str
    account: str | None
    mode: str  # automatic | manual
    calls: list[ApiCall]
    blast_radius: str
    undo: str
    irreversible: bool = False
    requires: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # what execute needs beyond calls
    status: str = "pending"  # pending | done | failed | manual
    done_at: str | None = None
    number: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number, "id": self.id, "action": self.action,
            "target": self.target, "account": self.account, "why": self.why,
            "mode": self.mode, "api_calls": [c.to_dict() for c in self.calls],
            "cli": [c.cli() for c in self.calls], "blast_radius": self.blast_radius,
            "undo": self.undo, "irreversible": self.irreversible, "requires": self.requires,
            "hint": self.params.get("hint"), "status": self.status,
            "done_at": self.done_at,
        }


@dataclass
class Plan:
    incident_id: str
    title: str
    severity: str
    first_seen: str | None
    last_seen: str | None
    generated_at: str
    attacker_keys: list[KeyFacts]
    steps: list[Step]
    facts: Facts

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def remaining(self) -> list[Step]:
        return [s for s in self.steps if s.mode == AUTOMATIC and s.status != "done"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident_id, "title": self.title, "severity": self.severity,
            "first_seen": self.first_seen, "last_seen": self.last_seen,
            "generated_at": self.generated_at,
            "attacker_keys": [k.to_dict() for k in self.attacker_keys],
            "bucket_changes": [b.to_dict() for b in self.facts.bucket_changes],
            "steps": [s.to_dict() for s in self.steps],
            "remaining": [s.id for s in self.remaining],
        }


def deny_all_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TrailhoundQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}]}


def revoke_older_sessions_policy(before: str) -> dict[str, Any]:
    """The policy the IAM console attaches for "Revoke active sessions" (AWS docs:
    id_roles_use_revoke-sessions): deny everything to tokens issued before `before`."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": before}}}]}


def build(inc: dict[str, Any], facts: Facts, *, now: datetime | None = None) -> Plan:
    """The plan for incident `inc` (a dict of incidents.json) with what the store knows."""
    now = now or datetime.now(UTC)
    steps: list[Step] = []
    iid = inc["id"]
    long_keys = [k for k in facts.keys if k.kind in ("stolen", "created")]
    users = _users(facts, inc)
    evidence_ids = []
    for acct in sorted({k.account for k in long_keys if k.account}
                       | {account_of_arn(u) for u in users if account_of_arn(u)}
                       | {account_of_arn(r) for r in facts.role_sessions
                          if account_of_arn(r)}):
        s = _preserve(iid, acct, facts, long_keys, users)
        if s.calls:
            steps.append(s)
            evidence_ids.append(s.id)
    for acct, prefixes in sorted(facts.trail_prefixes.items()):
        steps.append(_copy_trail(iid, acct, prefixes, inc))
    for k in long_keys:
        if k.legit.any:
            steps.append(_replace_credential(k))
    for k in long_keys:
        steps.append(_deactivate(k))
    for role, sessions in sorted(facts.role_sessions.items()):
        steps.append(_revoke_sessions(role, sessions, facts.roles.get(role, LegitUse())))
    for u in users:
        steps.append(_quarantine(iid, u, facts))
    for k in long_keys:
        if k.kind == "created":
            steps.append(_delete(k, [s for s in evidence_ids if s.endswith(k.account or "?")]))
    for b in facts.bucket_changes:
        steps.append(_review_bucket(b))
    if inc.get("source_ips"):
        steps.append(_block_ips(inc))
    if "defense-evasion" in (inc.get("stages") or []):
        steps.append(Step(f"restore-logging:{','.join(inc.get('accounts') or [])}",
                          "restore-logging", ", ".join(inc.get("accounts") or []),
                          "the attacker tampered with logging or detection", None, MANUAL, [],
                          "none", "n/a",
                          params={"hint": "check every trail with cloudtrail:GetTrailStatus "
                                          "and GuardDuty/Config recorders; restart them"}))
    buckets = (inc.get("resources") or {}).get("s3_buckets") or []
    if buckets:
        tenants = sorted({b["tenant"] for b in buckets if b.get("tenant")})
        steps.append(Step(f"notify-data-owners:{iid}", "notify-data-owners",
                          ", ".join(tenants or [b["name"] for b in buckets][:10]),
                          f"objects were read from {len(buckets)} bucket(s); the evidence file "
                          f"evidence/{iid}.ndjson lists each object", None, MANUAL, [],
                          "none", "n/a"))
    for n, s in enumerate(steps, 1):
        s.number = n
        if s.mode == MANUAL:
            s.status = MANUAL
    return Plan(iid, inc.get("title") or "", inc.get("severity") or "",
                inc.get("first_seen"), inc.get("last_seen"), iso(now) or "",
                facts.keys, steps, facts)


def _users(facts: Facts, inc: dict[str, Any]) -> list[str]:
    """IAM users whose keys the attacker held or made (the principals to quarantine)."""
    out = {f"arn:aws:iam::{k.account}:user/{k.user}" for k in facts.keys
           if k.kind in ("stolen", "created") and k.user and k.account}
    out |= {p for p in inc.get("principals") or [] if ":user/" in p}
    return sorted(out)


def _user_name(user_arn: str) -> str:
    return user_arn.rsplit("/", 1)[-1]


def _legit_text(legit: LegitUse, *, what: str) -> str:
    where = ", ".join(legit.source_ips[:4]) or "known networks"
    who = " / ".join(legit.platforms)
    kind = f"{who} pipeline runs" if who else "its owner's calls"
    calls = ", ".join(legit.top_calls[:4])
    text = (f"{what} breaks the legitimate use: {kind} from {where} ({legit.events} calls in "
            f"the store, last {iso(legit.last_seen)}")
    text += f"; e.g. {calls})" if calls else ")"
    if who:
        text += (f". CI/CD deployments through {who} fail until they get a new credential: "
                 f"rotate CI to a new credential (better: an OIDC role) first, or accept the "
                 f"outage")
    else:
        text += ". Give the owner a new credential first, or accept the outage"
    return text


def _preserve(iid: str, acct: str, facts: Facts, keys: list[KeyFacts],
              users: list[str]) -> Step:
    calls: list[ApiCall] = []
    for u in users:
        if account_of_arn(u) != acct:
            continue
        name = _user_name(u)
        calls += [ApiCall("iam", "GetUser", {"UserName": name}),
                  ApiCall("iam", "ListAccessKeys", {"UserName": name}),
                  ApiCall("iam", "ListUserPolicies", {"UserName": name}),
                  ApiCall("iam", "ListAttachedUserPolicies", {"UserName": name})]
    for k in keys:
        if k.account == acct:
            calls.append(ApiCall("iam", "GetAccessKeyLastUsed", {"AccessKeyId": k.key}))
    for role in sorted(facts.role_sessions):
        if account_of_arn(role) == acct and not _sso_role(role):
            name = role.rsplit("/", 1)[-1]
            calls += [ApiCall("iam", "GetRole", {"RoleName": name}),
                      ApiCall("iam", "ListRolePolicies", {"RoleName": name})]
    return Step(f"preserve-evidence:{acct}", "preserve-evidence", f"account {acct}",
                "record key status, creation and last-use metadata before anything changes "
                "it (deactivation overwrites the state a court or insurer asks about); "
                "responses go into the store's action log", acct, AUTOMATIC, calls,
                "none: read-only calls", "n/a (read-only)")


def _copy_trail(iid: str, acct: str, prefixes: list[str], inc: dict[str, Any]) -> Step:
    src = prefixes[0] if prefixes else f"s3://<trail bucket>/AWSLogs/{acct}/CloudTrail/"
    return Step(f"copy-cloudtrail:{acct}", "copy-cloudtrail", src,
                f"keep the raw CloudTrail of {acct} from {inc.get('first_seen')} on in a "
                "write-once place (S3 Object Lock / another account): trail buckets have "
                "lifecycle rules, and an attacker with rights can delete logs", acct, MANUAL,
                [], "none", "n/a",
                params={"hint": f"aws s3 sync {_shell_quote(src)} "
                                f"{_shell_quote(f's3://<evidence bucket>/{iid}/{acct}/')}"
                        if src.startswith("s3://") else
                        f"the store read it from {src}; copy the trail bucket's objects "
                        "for these days too"})


def _replace_credential(k: KeyFacts) -> Step:
    who = " / ".join(k.legit.platforms) or "the owner"
    return Step(f"replace-credential:{k.key}", "replace-legitimate-credential",
                f"user {k.user or '?'}",
                f"{k.key} is also in legitimate use by {who}; give it a new credential "
                f"(for CI: an OIDC role, no long-lived key) before the key is deactivated",
                k.account, MANUAL, [], _legit_text(k.legit, what="not doing this first"),
                "n/a")


def _deactivate(k: KeyFacts) -> Step:
    user = k.user or "?"
    if k.kind == "stolen":
        why = "the stolen key: the attacker used it"
    else:
        why = f"created by the attacker (with {k.created_by}) on IAM user {user}"
    blast = (_legit_text(k.legit, what="deactivating") if k.legit.any else
             "none seen: only the attacker used this key")
    return Step(f"deactivate-access-key:{k.key}", "deactivate-access-key", k.key, why,
                k.account, AUTOMATIC,
                [ApiCall("iam", "UpdateAccessKey",
                         {"UserName": user, "AccessKeyId": k.key, "Status": "Inactive"})],
                blast, ApiCall("iam", "UpdateAccessKey", {"UserName": user, "AccessKeyId": k.key,
                                                          "Status": "Active"}).cli(),
                params={"user": k.user})


def _sso_role(role_arn: str) -> bool:
    name = role_arn.rsplit("/", 1)[-1]
    return name.startswith("AWSReservedSSO_") or "/aws-service-role/" in role_arn


def _revoke_sessions(role: str, sessions: list[str], legit: LegitUse) -> Step:
    name = role.rsplit("/", 1)[-1]
    shown = ", ".join(s.removeprefix("role:") for s in sessions[:6])
    more = f" and {len(sessions) - 6} more" if len(sessions) > 6 else ""
    why = f"the attacker obtained sessions of this role ({shown}{more})"
    blast = ("every session of this role issued before the revoke time stops working, "
             "including " + (f"legitimate ones ({legit.events} calls in the store, last "
                             f"{iso(legit.last_seen)}, from "
                             f"{', '.join(legit.source_ips[:3]) or 'known networks'}); "
                             if legit.any else "any legitimate ones (none seen in the store); ")
             + "SDKs and instance profiles re-assume and recover, long jobs fail once")
    if _sso_role(role):
        people = sorted({s.rsplit("/", 1)[-1] for s in sessions if ":assumed-role/" in s})
        blast = (f"the person(s) {', '.join(people) or '?'} lose access through IAM Identity "
                 "Center until re-enabled; others with the same permission set keep working "
                 "when you act on the user, not on the permission set")
        return Step(f"revoke-role-sessions:{role}", "revoke-role-sessions", role,
                    why + "; an IAM Identity Center role cannot be changed in IAM",
                    account_of_arn(role), MANUAL, [], blast,
                    "re-enable the user / restore the assignment",
                    params={"hint": "in IAM Identity Center: disable the user or remove the "
                                    "permission-set assignment, then add a deny on "
                                    "aws:TokenIssueTime to the permission set's inline policy"})
    policy = revoke_older_sessions_policy("<time of execution>")
    return Step(f"revoke-role-sessions:{role}", "revoke-role-sessions", role, why,
                account_of_arn(role), AUTOMATIC,
                [ApiCall("iam", "PutRolePolicy",
                         {"RoleName": name, "PolicyName": REVOKE_POLICY_NAME,
                          "PolicyDocument": policy})],
                blast, ApiCall("iam", "DeleteRolePolicy", {"RoleName": name,
                                                           "PolicyName": REVOKE_POLICY_NAME}
                               ).cli() + "  # after the old sessions expired; until then it "
                       "keeps them revoked, as intended",
                params={"role_name": name})


def _quarantine(iid: str, user_arn: str, facts: Facts) -> Step:
    name = _user_name(user_arn)
    policy = QUARANTINE_PREFIX + iid
    legit = facts.user_legit.get(user_arn, LegitUse())
    others = facts.users_other_keys.get(user_arn, 0)
    parts = []
    if legit.any:
        parts.append(_legit_text(legit, what="denying the user"))
    if others:
        parts.append(f"also blocks the user's {others} other access key(s) the attacker "
                     "never used, and console sign-in")
    blast = "; ".join(parts) or ("blocks every credential of this user (none in legitimate "
                                 "use in the store)")
    return Step(f"quarantine-user:{user_arn}", "attach-deny-all-policy", user_arn,
                "an explicit deny overrides every allow: contains the identity even through "
                "a credential the logs did not show", account_of_arn(user_arn), AUTOMATIC,
                [ApiCall("iam", "PutUserPolicy",
                         {"UserName": name, "PolicyName": policy,
                          "PolicyDocument": deny_all_policy()})],
                blast, ApiCall("iam", "DeleteUserPolicy",
                               {"UserName": name, "PolicyName": policy}).cli(),
                params={"user": name, "policy": policy})


def _delete(k: KeyFacts, evidence: list[str]) -> Step:
    user = k.user or "?"
    return Step(f"delete-access-key:{k.key}", "delete-access-key", k.key,
                "attacker-created key: deleted once its metadata is preserved and it is "
                "inactive", k.account, AUTOMATIC,
                [ApiCall("iam", "DeleteAccessKey", {"UserName": user, "AccessKeyId": k.key})],
                _legit_text(k.legit, what="deleting") if k.legit.any else
                "none seen: only the attacker used this key",
                "none: a deleted key cannot be restored (a new key has a new id)",
                irreversible=True,
                requires=[*evidence, f"deactivate-access-key:{k.key}"],
                params={"user": k.user})


def _review_bucket(b: Any) -> Step:
    who = (f"{b.by_attacker} by the attacker's keys" if b.by_attacker else
           "none by the attacker's known keys")
    return Step(f"review-bucket:{b.bucket}", "review-bucket-access", b.bucket,
                f"{', '.join(b.changes)} during the incident window ({b.events} change(s), "
                f"{who}, {iso(b.first)} .. {iso(b.last)}): a policy or ACL opened by the "
                "attacker outlives every key", b.account, MANUAL,
                [ApiCall("s3api", "GetBucketPolicy", {"Bucket": b.bucket}),
                 ApiCall("s3api", "GetBucketAcl", {"Bucket": b.bucket}),
                 ApiCall("s3api", "GetPublicAccessBlock", {"Bucket": b.bucket})],
                "none (read-only review)", "restore the policy from the request parameters "
                "of the change event in the store")


def _block_ips(inc: dict[str, Any]) -> Step:
    ips = inc.get("source_ips") or []
    return Step(f"block-source-ips:{inc['id']}", "block-source-ips", ", ".join(ips[:20]),
                "attacker infrastructure seen on this lineage (advisory: keys, not IPs, are "
                "what the attacker holds, and IPs change)", None, MANUAL, [],
                "blocks anyone behind those addresses (VPNs and clouds are shared)",
                "remove the rule",
                params={"hint": "WAF IP set / VPC network ACL for your endpoints; an SCP or "
                                "policy Deny with NotIpAddress/IpAddress on aws:SourceIp for "
                                "API calls"})
