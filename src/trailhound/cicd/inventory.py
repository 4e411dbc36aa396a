"""Every dependency a pipeline pulls in: actions, reusable workflows, images, GitLab
includes and tools downloaded by scripts (CERT-EU's advice: keep an inventory of pipeline
dependencies so an advisory can be answered with one grep)."""

from __future__ import annotations

from trailhound.cicd.model import Dependency
from trailhound.cicd.pipeline import Pipeline
from trailhound.cicd.refs import SHA_RE, parse_image, parse_uses
from trailhound.cicd.scripts import docker_images, downloads, unversioned_security_tools
from trailhound.cicd.yamlnodes import key_line, line_of, text

_TOOL_ACTIONS = {"aquasecurity/trivy-action": "trivy", "aquasecurity/setup-trivy": "trivy"}


def inventory(p: Pipeline) -> list[Dependency]:
    out: list[Dependency] = []
    for inc in p.includes:
        # local files are this repository's; templates ship with the GitLab instance
        pinned = (inc.kind in ("local", "template") or (inc.kind == "remote" and inc.integrity)
                  or bool(inc.ref and SHA_RE.match(inc.ref)))
        out.append(Dependency(p.path, inc.line, "include", f"{inc.kind}:{inc.target}", inc.ref,
                              pinned, None, inc.target))
    for job in p.jobs:
        uses = [job.uses] if job.uses else []
        uses += [st.uses for st in job.steps if st.uses and not st.uses.startswith("docker://")]
        for u_raw in uses:
            u = parse_uses(u_raw)
            if u.kind in ("action", "reusable-workflow"):
                out.append(Dependency(p.path, line_of(u_raw), u.kind, u.name, u.ref or None,
                                      u.pinned, job.id, str(u_raw)))
            elif u.kind == "local":
                out.append(Dependency(p.path, line_of(u_raw), "action", u.path, None, True,
                                      job.id, str(u_raw)))
        for st in job.steps:
            tool = _TOOL_ACTIONS.get(parse_uses(st.uses).slug) if st.uses else None
            ver = text(st.with_.get("version")).strip()
            if tool:
                out.append(Dependency(p.path, key_line(st.with_, "version", st.line), "tool",
                                      tool, ver or None, False, job.id, str(st.uses)))
        images = [(img.ref, img.line) for img in job.images]
        for s in job.scripts:
            images += [(ref, s.line_at(off)) for off, ref in docker_images(s)]
        for ref, line in images:
            ir = parse_image(ref)
            out.append(Dependency(p.path, line, "image", ir.name if ir else str(ref),
                                  (ir.digest or ir.tag or "latest") if ir else None,
                                  bool(ir and ir.pinned), job.id, str(ref)))
        for s in job.scripts:
            for d in downloads(s):
                out.append(Dependency(p.path, s.line_at(d.offset), "tool", d.tool, d.version,
                                      False, job.id, d.url))
            for h, tool in unversioned_security_tools(s):
                out.append(Dependency(p.path, s.line_at(h.offset), "tool", tool, None, False,
                                      job.id, h.text))
    return out
