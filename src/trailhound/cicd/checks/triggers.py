"""Privileged triggers (`pull_request_target`, `workflow_run`) and the untrusted checkouts
that make them exploitable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from trailhound.cicd.checks.base import finding
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import GITHUB_WORKFLOW, Pipeline
from trailhound.cicd.refs import parse_uses
from trailhound.cicd.yamlnodes import key_line, line_of, text

PRIVILEGED = ("pull_request_target", "workflow_run", "issue_comment")
COMMENT_OPS = ("pull_request_review_comment", "pull_request_review")

UNTRUSTED_REF = re.compile(
    r"github\.event\.pull_request\.head\.(?:sha|ref|repo\.full_name|label)"
    r"|github\.head_ref|github\.event\.workflow_run\.(?:head_sha|head_branch|head_repository)"
    r"|github\.event\.workflow_run\.pull_requests|refs/pull/|github\.event\.number"
    r"|github\.event\.pull_request\.number|github\.event\.issue\.number"
    r"|merge_commit_sha|steps\.[\w-]+\.outputs\.(?:head|pr|sha|ref)\w*")
SCRIPT_CHECKOUT = re.compile(
    r"\bgh\s+pr\s+checkout\b|\bgit\s+(?:fetch|checkout|switch|pull)\b[^\n]*"
    r"(?:pull/|\$\{\{\s*(?:github\.event\.pull_request\.head|github\.head_ref|"
    r"github\.event\.workflow_run\.head))")


def check(p: Pipeline, kb: Any = None) -> Iterator[Finding]:
    if p.kind != GITHUB_WORKFLOW:
        return
    privileged = [t for t in p.triggers if t in PRIVILEGED]
    risky_triggers = privileged + [t for t in p.triggers if t in COMMENT_OPS]
    for t in privileged:
        yield finding("dangerous-trigger", p, p.triggers[t],
                      f"`{t}` runs with the base repository's secrets and write token on "
                      "events a fork can cause", trigger=t)
    if not risky_triggers:
        return
    trig = "/".join(risky_triggers)
    for job in p.jobs:
        for st in job.steps:
            if st.uses and parse_uses(st.uses).slug == "actions/checkout":
                ref = text(st.with_.get("ref")) + " " + text(st.with_.get("repository"))
                if UNTRUSTED_REF.search(ref):
                    yield finding("untrusted-checkout", p,
                                  key_line(st.with_, "ref", line_of(st.uses)),
                                  f"`{trig}` workflow checks out untrusted code "
                                  f"(ref: {ref.strip()})", job=job, trigger=trig)
            if st.run is not None:
                for m in SCRIPT_CHECKOUT.finditer(st.run):
                    yield finding("untrusted-checkout", p, st.run.line_at(m.start()),
                                  f"`{trig}` workflow fetches the pull request's code in a "
                                  f"script: `{m.group()[:100]}`", job=job, trigger=trig)
