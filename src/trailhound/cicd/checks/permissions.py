"""GITHUB_TOKEN scope: no `permissions:` at all (default scopes) or `write-all`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailhound.cicd.checks.base import finding
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import GITHUB_WORKFLOW, Pipeline
from trailhound.cicd.yamlnodes import key_line, text


def check(p: Pipeline, kb: Any = None) -> Iterator[Finding]:
    if p.kind != GITHUB_WORKFLOW:
        return
    if p.has_permissions and text(p.permissions).strip().lower() == "write-all":
        yield finding("permissions-write-all", p, p.permissions_line,
                      "the workflow grants `write-all` to every job")
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
