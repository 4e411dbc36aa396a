"""What every check shares: the finding constructor and small predicates on jobs."""

from __future__ import annotations

import re
from typing import Any

from trailhound.cicd.checks.rules import RULES
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import Job, Pipeline
from trailhound.cicd.refs import parse_image, parse_uses
from trailhound.cicd.scripts import latest_installs, pipe_to_shell

SECRET_REF = re.compile(r"\bsecrets\s*(?:\.\s*([A-Za-z_][\w-]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def finding(rule_id: str, p: Pipeline, line: int, message: str, *, job: Job | None = None,
            severity: str | None = None, fix: str | None = None, **detail: Any) -> Finding:
    rule = RULES[rule_id]
    return Finding(rule_id=rule_id, severity=severity or rule.severity, path=p.path,
                   line=max(1, int(line)), message=message, fix=fix or rule.fix,
                   job=job.id if job else None, detail=detail)


def secret_names(value: Any) -> list[str]:
    """Names of `secrets.X` referenced in a string (GITHUB_TOKEN included)."""
    if not isinstance(value, str):
        return []
    return [a or b for a, b in SECRET_REF.findall(value)]


def mutable_third_party(job: Job) -> list[str]:
    """Third-party code the job runs by a reference that can change: unpinned actions,
    unpinned images, piped or `@latest` installs. These are what turn a key in reach into
    a key in the attacker's hands."""
    out: list[str] = []
    for st in job.steps:
        if st.uses:
            u = parse_uses(st.uses)
            if u.kind == "action" and not u.pinned and not u.first_party:
                out.append(str(st.uses))
    for img in job.images:
        ir = parse_image(img.ref)
        if ir is not None and not ir.pinned:
            out.append(f"image {img.ref}")
    for s in job.scripts:
        out.extend(h.text.strip()[:80] for h in pipe_to_shell(s))
        out.extend(h.text.strip()[:80] for h in latest_installs(s))
    return out
