"""References to versions listed in `data/known_bad.yml`."""

from __future__ import annotations

from collections.abc import Iterator

from trailhound.cicd.checks.base import finding
from trailhound.cicd.known_bad import KnownBad, Match, builtin
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import Job, Pipeline
from trailhound.cicd.refs import parse_image, parse_uses
from trailhound.cicd.scripts import docker_images, downloads
from trailhound.cicd.yamlnodes import key_line, line_of, text

TOOL_ACTIONS = {"aquasecurity/trivy-action": "trivy", "aquasecurity/setup-trivy": "trivy"}


def _f(p: Pipeline, line: int, job: Job | None, what: str, m: Match) -> Finding:
    e = m.entry
    how = ("is a compromised version" if m.how == "exact"
           else "is a mutable tag or branch that resolved to a compromised release")
    return finding("known-bad-version", p, line,
                   f"{what} {how} ({e.advisory}, {e.date}): {e.window}", job=job,
                   severity=m.severity, fix=e.fix, advisory=e.advisory,
                   aliases=list(e.aliases), entry=e.id, match=m.how,
                   sources=list(e.sources))


def check(p: Pipeline, kb: KnownBad | None = None) -> Iterator[Finding]:
    kb = kb or builtin()
    for job in p.jobs:
        uses = [(job.uses, line_of(job.uses))] if job.uses else []
        uses += [(st.uses, line_of(st.uses)) for st in job.steps if st.uses]
        for u_raw, line in uses:
            u = parse_uses(u_raw)
            if u.kind in ("action", "reusable-workflow"):
                for m in kb.match("action", u.slug, u.ref):
                    yield _f(p, line, job, f"`{u_raw}`", m)
        for st in job.steps:
            tool = TOOL_ACTIONS.get(parse_uses(st.uses).slug) if st.uses else None
            ver = text(st.with_.get("version")).strip()
            if tool and ver and ver.lower() != "latest":
                for m in kb.match("tool", tool, ver):
                    yield _f(p, key_line(st.with_, "version", st.line), job,
                             f"{tool} {ver} (installed by `{st.uses}`)", m)
        imgs = [(img.ref, img.line) for img in job.images]
        for s in job.scripts:
            imgs += [(ref, s.line_at(off)) for off, ref in docker_images(s)]
        for ref, line in imgs:
            ir = parse_image(ref)
            if ir is None or ir.pinned:
                continue
            for m in kb.match("image", ir.short_name, ir.tag or "latest"):
                yield _f(p, line, job, f"image `{ref}`", m)
        for s in job.scripts:
            for d in downloads(s):
                if d.version and d.version != "latest":
                    for m in kb.match("tool", d.tool, d.version):
                        yield _f(p, s.line_at(d.offset), job, f"{d.tool} {d.version}", m)
