"""Mutable references: actions and reusable workflows not at a commit SHA, images not at a
digest, GitLab includes that can change under you (zizmor: unpinned-uses, unpinned-images)."""

from __future__ import annotations

from collections.abc import Iterator

from trailhound.cicd.checks.base import finding
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import Pipeline
from trailhound.cicd.refs import SHA_RE, parse_image, parse_uses
from trailhound.cicd.scripts import SECURITY_TOOLS, docker_images
from trailhound.cicd.yamlnodes import line_of


def _is_scanner(name: str) -> bool:
    last = name.rsplit("/", 1)[-1]
    return any(t in last for t in SECURITY_TOOLS)


def check(p: Pipeline, kb: object = None) -> Iterator[Finding]:
    for job in p.jobs:
        if job.uses is not None:
            u = parse_uses(job.uses)
            if u.kind in ("reusable-workflow", "action") and not u.pinned:
                yield finding("unpinned-reusable-workflow", p, line_of(job.uses),
                              f"reusable workflow `{job.uses}` is referenced by "
                              f"{'tag or branch ' + repr(u.ref) if u.ref else 'no ref'}, not a "
                              "commit SHA", job=job, uses=str(job.uses))
        for st in job.steps:
            if st.uses is None:
                continue
            u = parse_uses(st.uses)
            if u.kind == "reusable-workflow" and not u.pinned:
                yield finding("unpinned-reusable-workflow", p, line_of(st.uses),
                              f"`{st.uses}` is not pinned to a commit SHA", job=job,
                              uses=str(st.uses))
            elif u.kind == "action" and not u.pinned:
                sev = "low" if u.first_party else None
                who = "GitHub-owned action" if u.first_party else "third-party action"
                yield finding("unpinned-action", p, line_of(st.uses),
                              f"{who} `{st.uses}` runs whatever commit the ref "
                              f"{u.ref!r} points to today", job=job, severity=sev,
                              uses=str(st.uses))
        seen: set[tuple[int, str]] = set()
        for img in job.images:
            ir = parse_image(img.ref)
            if ir is None or ir.pinned:
                continue
            seen.add((img.line, ir.raw))
            sev = "high" if _is_scanner(ir.name) else None
            yield finding("unpinned-image", p, img.line,
                          f"{'job' if img.role == 'image' else img.role} image `{img.ref}` is "
                          f"referenced by tag "
                          f"{ir.tag or 'latest (implicit)'!r}, not by digest", job=job,
                          severity=sev, image=str(img.ref))
        for s in job.scripts:
            for off, ref in docker_images(s):
                ir = parse_image(ref)
                line = s.line_at(off) if hasattr(s, "line_at") else line_of(s)
                if ir is None or ir.pinned or (line, ref) in seen:
                    continue
                seen.add((line, ref))
                sev = "high" if _is_scanner(ir.name) else None
                yield finding("unpinned-image", p, line,
                              f"`docker run/pull {ref}` in a script uses a mutable tag "
                              f"{ir.tag or 'latest (implicit)'!r}", job=job, severity=sev,
                              image=ref)
    for inc in p.includes:
        if inc.kind == "remote" and not inc.integrity:
            yield finding("unpinned-include", p, inc.line,
                          f"remote include `{inc.target}` has no `integrity:` hash",
                          include=inc.target)
        elif inc.kind in ("project", "component") and not (inc.ref and SHA_RE.match(inc.ref)):
            yield finding("unpinned-include", p, inc.line,
                          f"{inc.kind} include `{inc.target}` at "
                          f"{repr(inc.ref) if inc.ref else 'the default branch'}, not a "
                          "commit SHA", include=inc.target)
