"""`--execute`: carry out the automatic steps of a plan through boto3, one at a time.

Each step first reads the current IAM state and acts only when the state is not yet what the
step wants, so a re-run after a partial failure (or after someone did a step by hand) finishes
the job without repeating what is done; the action log says which steps are done and keeps
every request and answer. The first failing step stops the run: containment done out of order
(deleting a key whose evidence was not kept, say) is worse than containment done late.

boto3 is imported here and only here, so planning never loads it, never makes a client, and
never touches the network.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trailhound.errors import RespondError, StoreError
from trailhound.respond.actionlog import ActionLog
from trailhound.respond.plan import (
    AUTOMATIC,
    REVOKE_POLICY_NAME,
    ApiCall,
    Plan,
    Step,
    deny_all_policy,
    revoke_older_sessions_policy,
)


@dataclass(frozen=True)
class AwsOptions:
    """Where to act, named as the AWS CLI names it; None means boto3's default chain."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


@dataclass
class StepReport:
    id: str
    result: str  # done | already-done | done-earlier | failed | other-account
    detail: str = ""


@dataclass
class ExecResult:
    actor: str | None
    account: str | None
    reports: list[StepReport] = field(default_factory=list)
    failed: StepReport | None = None
    remaining: list[Step] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.failed is None and not self.remaining

    def to_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "account": self.account,
                "steps": [r.__dict__ for r in self.reports],
                "failed": self.failed.__dict__ if self.failed else None,
                "remaining": [s.id for s in self.remaining], "complete": self.complete}


class StepFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Clients:
    """boto3 clients made on first use, with short timeouts and few retries: a responder
    wants a clear failure in seconds, not a silent minute of backoff."""

    def __init__(self, opts: AwsOptions) -> None:
        import boto3
        from botocore.config import Config

        try:
            self._session = boto3.Session(profile_name=opts.profile, region_name=opts.region)
        except Exception as e:  # botocore.exceptions.ProfileNotFound and kin
            raise RespondError(f"cannot use AWS profile {opts.profile!r}: {e}") from None
        self._region = opts.region or self._session.region_name or "us-east-1"
        self._endpoint = opts.endpoint_url
        self._config = Config(retries={"max_attempts": 3, "mode": "standard"},
                              connect_timeout=5, read_timeout=30)
        self._clients: dict[str, Any] = {}

    def get(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service, region_name=self._region, endpoint_url=self._endpoint,
                config=self._config)
        return self._clients[service]


@contextmanager
def _exclusive(log: ActionLog) -> Iterator[None]:
    """One `--execute` per incident at a time: two would interleave the log and race."""
    log.path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log.path.with_suffix(".lock"), "a+")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError("another `trailhound respond --execute` is running for this "
                             "incident", location=str(log.path)) from None
        yield
    finally:
        fh.close()


class _Run:
    def __init__(self, plan: Plan, log: ActionLog, clients: Clients) -> None:
        self.plan = plan
        self.log = log
        self.clients = clients
        self.done = log.done()
        self.actor: str | None = None

    def call(self, step: Step, c: ApiCall, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """Make one call and log it. NoSuchEntity returns None when `missing_ok`."""
        from botocore.exceptions import BotoCoreError, ClientError

        params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in c.params.items()}
        client = self.clients.get(c.service)
        method = getattr(client, _snake(c.operation))
        try:
            resp = method(**params)
        except ClientError as e:
            err = e.response.get("Error", {})
            code = str(err.get("Code", "ClientError"))
            self.log.call(step.id, c.to_dict(), error={
                "code": code, "message": str(err.get("Message", "")),
                "http_status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")})
            if missing_ok and code == "NoSuchEntity":
                return None
            raise StepFailed(f"{c.service}:{c.operation} {code}: {err.get('Message', '')}"
                             ) from None
        except BotoCoreError as e:
            self.log.call(step.id, c.to_dict(), error={"code": type(e).__name__,
                                                       "message": str(e)})
            raise StepFailed(f"{c.service}:{c.operation}: {e}") from None
        clean = {k: v for k, v in resp.items() if k != "ResponseMetadata"}
        meta = resp.get("ResponseMetadata", {})
        clean["_request_id"] = meta.get("RequestId")
        self.log.call(step.id, c.to_dict(), response=clean)
        return clean

    # -- steps -------------------------------------------------------------------------

    def preserve(self, step: Step) -> tuple[str, str]:
        if step.id in self.done:
            return "done-earlier", "metadata kept on the first run (not re-read: it would " \
                                   "show the state after containment)"
        missing = 0
        for c in step.calls:
            if self.call(step, c, missing_ok=True) is None:
                missing += 1
        note = f"{len(step.calls)} read calls logged"
        return "done", note + (f" ({missing} said NoSuchEntity)" if missing else "")

    def _owner(self, step: Step, key: str) -> str | None:
        r = self.call(step, ApiCall("iam", "GetAccessKeyLastUsed", {"AccessKeyId": key}),
                      missing_ok=True)
        return None if r is None else r.get("UserName")

    def _status(self, step: Step, user: str, key: str) -> str | None:
        r = self.call(step, ApiCall("iam", "ListAccessKeys", {"UserName": user}),
                      missing_ok=True)
        for m in (r or {}).get("AccessKeyMetadata", []):
            if m.get("AccessKeyId") == key:
                return str(m.get("Status"))
        return None

    def _key_state(self, step: Step, key: str) -> tuple[str, str] | None:
        """(owning user, current status) of a key, or None when it no longer exists."""
        user = self._owner(step, key)
        status = self._status(step, user, key) if user is not None else None
        return (user, status) if user is not None and status is not None else None

    def deactivate(self, step: Step) -> tuple[str, str]:
        key = step.target
        state = self._key_state(step, key)
        if state is None:
            return "already-done", "the key does not exist (deleted): it cannot be used"
        user, status = state
        if status == "Inactive":
            return "already-done", f"already Inactive on user {user}"
        self.call(step, ApiCall("iam", "UpdateAccessKey",
                                {"UserName": user, "AccessKeyId": key, "Status": "Inactive"}))
        note = f"Inactive on user {user}"
        if step.params.get("user") and step.params["user"] != user:
            note += f" (the store named user {step.params['user']})"
        return "done", note

    def revoke(self, step: Step) -> tuple[str, str]:
        role = step.params["role_name"]
        first = self.log.first_request(step.id, "PutRolePolicy")
        before = _token_time(first.get("params", {}).get("PolicyDocument")) if first else None
        before = before or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cur = self.call(step, ApiCall("iam", "GetRolePolicy",
                                      {"RoleName": role, "PolicyName": REVOKE_POLICY_NAME}),
                        missing_ok=True)
        have = _token_time((cur or {}).get("PolicyDocument"))
        if have and _instant(have) >= _instant(before):
            return "already-done", f"{REVOKE_POLICY_NAME} denies tokens issued before {have}"
        self.call(step, ApiCall("iam", "PutRolePolicy", {
            "RoleName": role, "PolicyName": REVOKE_POLICY_NAME,
            "PolicyDocument": revoke_older_sessions_policy(before)}))
        return "done", f"sessions of {role} issued before {before} are denied"

    def quarantine(self, step: Step) -> tuple[str, str]:
        user, name = step.params["user"], step.params["policy"]
        cur = self.call(step, ApiCall("iam", "GetUserPolicy",
                                      {"UserName": user, "PolicyName": name}), missing_ok=True)
        doc = (cur or {}).get("PolicyDocument")
        if isinstance(doc, str):
            doc = json.loads(doc)
        if doc == deny_all_policy():
            return "already-done", f"{name} is on user {user}"
        self.call(step, ApiCall("iam", "PutUserPolicy", {
            "UserName": user, "PolicyName": name, "PolicyDocument": deny_all_policy()}))
        return "done", f"deny-all policy {name} on user {user}"

    def delete(self, step: Step) -> tuple[str, str]:
        key = step.target
        state = self._key_state(step, key)
        if state is None:
            return "already-done", "the key no longer exists"
        user, status = state
        if status != "Inactive":
            raise StepFailed(f"{key} is {status} again although it was deactivated: "
                             "someone re-enabled it; investigate before deleting")
        self.call(step, ApiCall("iam", "DeleteAccessKey", {"UserName": user, "AccessKeyId": key}))
        return "done", f"deleted from user {user}"


_HANDLERS: dict[str, Callable[[_Run, Step], tuple[str, str]]] = {
    "preserve-evidence": _Run.preserve,
    "deactivate-access-key": _Run.deactivate,
    "revoke-role-sessions": _Run.revoke,
    "attach-deny-all-policy": _Run.quarantine,
    "delete-access-key": _Run.delete,
}


def execute(plan: Plan, log: ActionLog, opts: AwsOptions, *,
            on_step: Callable[[Step, StepReport], None] | None = None) -> ExecResult:
    """Run the plan's automatic steps in order; stop at the first failure.

    Steps for another account than the credentials' are left for a run with that account's
    credentials (they stay in `remaining`)."""
    with _exclusive(log):
        clients = Clients(opts)
        run = _Run(plan, log, clients)
        res = ExecResult(None, None)
        ident = ApiCall("sts", "GetCallerIdentity", {})
        pre = Step("caller-identity", "caller-identity", "", "", None, AUTOMATIC, [ident],
                   "", "")
        try:
            who = run.call(pre, ident) or {}
        except StepFailed as e:
            res.failed = StepReport("caller-identity", "failed",
                                    f"cannot identify the AWS credentials: {e.message}")
            res.remaining = plan.remaining
            return res
        res.actor, res.account = who.get("Arn"), who.get("Account")
        for step in plan.steps:
            if step.mode != AUTOMATIC:
                continue
            if step.account and res.account and step.account != res.account:
                rep = StepReport(step.id, "other-account",
                                 f"needs credentials for account {step.account}")
                res.reports.append(rep)
                res.remaining.append(step)
                continue
            missing = [r for r in step.requires if r not in run.done]
            if missing:
                rep = StepReport(step.id, "failed", "requires " + ", ".join(missing)
                                 + " to be done first")
                log.outcome(step.id, "failed", detail=rep.detail, actor=res.actor)
            else:
                try:
                    result, detail = _HANDLERS[step.action](run, step)
                    if result == "already-done" and step.id in run.done:
                        result = "done-earlier"
                    rep = StepReport(step.id, result, detail)
                except StepFailed as e:
                    rep = StepReport(step.id, "failed", e.message)
                    log.outcome(step.id, "failed", detail=e.message, actor=res.actor)
                else:
                    if result in ("done", "already-done") and step.id not in run.done:
                        rec = log.outcome(step.id, result, detail=detail, actor=res.actor)
                        run.done[step.id] = rec["time"]
                    step.status = "done"
                    step.done_at = run.done.get(step.id)
            res.reports.append(rep)
            if on_step:
                on_step(step, rep)
            if rep.result == "failed":
                step.status = "failed"
                res.failed = rep
                idx = plan.steps.index(step)
                res.remaining += [s for s in plan.steps[idx:] if s.mode == AUTOMATIC]
                break
        return res


def _token_time(doc: Any) -> str | None:
    """The aws:TokenIssueTime of a revoke-older-sessions policy document, if it is one."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return None
    if not isinstance(doc, dict):
        return None
    stmts = doc.get("Statement")
    for s in stmts if isinstance(stmts, list) else [stmts]:
        if isinstance(s, dict) and s.get("Effect") == "Deny":
            t = ((s.get("Condition") or {}).get("DateLessThan") or {}).get("aws:TokenIssueTime")
            if isinstance(t, str):
                return t
    return None


def _instant(text: str) -> datetime:
    """An ISO-8601 time as written in policies (`...Z`, with or without fractions)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _snake(op: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in op).lstrip("_")
