"""Jobs that hold secrets without an egress restriction: nothing stops exfiltration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trailhound.cicd.checks.base import finding, secret_names
from trailhound.cicd.checks.credentials import aws_keys
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import GITHUB_WORKFLOW, Job, Pipeline
from trailhound.cicd.refs import parse_uses
from trailhound.cicd.yamlnodes import LMap, iter_strings, text


def job_secrets(job: Job, workflow_env: LMap) -> list[str]:
    """Secrets (other than the GITHUB_TOKEN) the job can read."""
    names: list[str] = []
    for s in iter_strings(job.raw):
        names += secret_names(s)
    for s in iter_strings(workflow_env):
        names += secret_names(s)
    if text(job.secrets).strip() == "inherit":
        names.append("(inherit: all)")
    return [n for n in dict.fromkeys(names) if n.upper() != "GITHUB_TOKEN"]


def blocks_egress(job: Job) -> bool:
    for st in job.steps:
        if st.uses and parse_uses(st.uses).slug == "step-security/harden-runner":
            return text(st.with_.get("egress-policy")).strip().lower() == "block"
    return False


def check(p: Pipeline, kb: Any = None) -> Iterator[Finding]:
    if p.kind != GITHUB_WORKFLOW:
        return
    with_key = {j.id for k in aws_keys(p) for j in k.jobs}
    for job in p.jobs:
        if job.uses is not None:
            continue  # a reusable-workflow call has no steps of its own to harden
        names = job_secrets(job, p.env)
        if not names and job.id in with_key:
            names = ["an AWS access key"]
        if not names or blocks_egress(job):
            continue
        sev = "high" if job.id in with_key else None
        yield finding("no-egress-restriction", p, job.line,
                      f"job `{job.id}` holds {', '.join(names[:5])} and can reach any host "
                      "(no harden-runner with `egress-policy: block`)", job=job,
                      severity=sev, secrets=names)
