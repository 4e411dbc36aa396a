"""GITHUB_TOKEN scope: no `permissions:` at all (default scopes) or `write-all`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailhound.cicd.checks.base import finding
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import GITHUB_WORKFLOW, Pipeline
from trailhound.cicd.yamlnodes import LMap, key_line, text

SENSITIVE = frozenset({"id-token", "contents", "packages", "actions", "pull-requests",
                       "deployments", "security-events", "attestations"})


def check(p: Pipeline, kb: Any = None) -> Iterator[Finding]:
    if p.kind != GITHUB_WORKFLOW:
        return
    if p.has_permissions and text(p.permissions).strip().lower() == "write-all":
        yield finding("permissions-write-all", p, p.permissions_line,
                      "the workflow grants `write-all` to every job")
    elif p.has_permissions and text(p.permissions).strip().lower() == "read-all":
        yield finding("permissions-broad-workflow", p, p.permissions_line,
                      "`read-all` at workflow level gives every job read access to every scope")
    elif p.has_permissions and isinstance(p.permissions, LMap):
        writes = [k for k, v in p.permissions.items() if text(v).strip().lower() == "write"]
        if writes and len(p.jobs) > 0:
            sev = "medium" if set(writes) & SENSITIVE else "low"
            yield finding("permissions-broad-workflow", p, p.permissions_line,
                          f"workflow-level `{', '.join(f'{w}: write' for w in writes)}` "
                          f"reaches all {len(p.jobs)} job(s)", severity=sev, scopes=writes)
    for job in p.jobs:
        if job.has_permissions and text(job.permissions).strip().lower() == "write-all":
            yield finding("permissions-write-all", p, key_line(job.raw, "permissions", job.line),
                          f"job `{job.id}` grants `write-all`", job=job)
    if not p.has_permissions:
        bare = [j for j in p.jobs if not j.has_permissions]
        if bare:
            names = ", ".join(j.id for j in bare[:6]) + (" ..." if len(bare) > 6 else "")
            yield finding("permissions-missing", p, p.header_line,
                          f"no `permissions:` in the workflow or in job(s) {names}: the "
                          "token gets the repository's default scopes", jobs=[j.id for j in bare])
