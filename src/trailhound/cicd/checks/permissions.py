"""GITHUB_TOKEN scope: no `permissions:` (default scopes), `write-all`, and broad grants
(`read-all`, or write scopes at workflow level that reach every job)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailhound.cicd.checks.base import finding
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import GITHUB_WORKFLOW, Job, Pipeline
from trailhound.cicd.yamlnodes import LMap, key_line, text

SENSITIVE = frozenset({"id-token", "contents", "packages", "actions", "pull-requests",
                       "deployments", "security-events", "attestations"})


def _level(perms: Any) -> str:
    return text(perms).strip().lower()


def _job_line(job: Job) -> int:
    return key_line(job.raw, "permissions", job.line)


def check(p: Pipeline, kb: Any = None) -> Iterator[Finding]:
    if p.kind != GITHUB_WORKFLOW:
        return
    wf = _level(p.permissions) if p.has_permissions else None
    if wf == "write-all":
        yield finding("permissions-write-all", p, p.permissions_line,
                      "the workflow grants `write-all` to every job")
    elif wf == "read-all":
        yield finding("permissions-broad", p, p.permissions_line,
                      "`read-all` at workflow level gives every job read access to every scope")
    elif p.has_permissions and isinstance(p.permissions, LMap):
        for scope, v in p.permissions.items():
            if _level(v) == "write":
                sev = "medium" if scope in SENSITIVE else "low"
                yield finding("permissions-broad", p, key_line(p.permissions, scope),
                              f"workflow-level `{scope}: write` reaches all {len(p.jobs)} "
                              "job(s), not only the one that needs it", severity=sev,
                              scope=scope)
    # A workflow only ever called by others gets its token from the caller, so its plain
    # jobs need no block of their own; jobs that call other workflows always do.
    call_only = bool(p.triggers) and set(p.triggers) == {"workflow_call"}
    bare = [j for j in p.jobs if not j.has_permissions]
    if not p.has_permissions and not call_only and bare and len(p.jobs) >= 2:
        yield finding("permissions-missing", p, p.raw.line,
                      f"no top-level `permissions:` and {len(bare)} job(s) without their own: "
                      "`permissions: {}` at the top would fix them all at once",
                      jobs=[j.id for j in bare])
    for job in p.jobs:
        lvl = _level(job.permissions) if job.has_permissions else None
        if lvl == "write-all":
            yield finding("permissions-write-all", p, _job_line(job),
                          f"job `{job.id}` grants `write-all`", job=job)
        elif lvl == "read-all":
            yield finding("permissions-broad", p, _job_line(job),
                          f"job `{job.id}` grants `read-all`", job=job)
        elif not job.has_permissions and not p.has_permissions and (
                not call_only or job.uses is not None):
            what = ("calls a reusable workflow" if job.uses is not None else "runs")
            yield finding("permissions-missing", p, job.line,
                          f"job `{job.id}` {what} without a `permissions:` block (and the "
                          "workflow sets none): the token gets the repository's default "
                          "scopes", job=job)
