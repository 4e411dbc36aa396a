"""Tools installed at run time without pinning: piped install scripts, `@latest`,
unversioned scanners from package managers, `latest` downloads, `version: latest` inputs."""

from __future__ import annotations

from collections.abc import Iterator

from trailhound.cicd.checks.base import finding
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import Pipeline
from trailhound.cicd.scripts import (
    SECURITY_TOOLS,
    downloads,
    latest_installs,
    pipe_to_shell,
    unversioned_security_tools,
)
from trailhound.cicd.yamlnodes import key_line, text


def check(p: Pipeline, kb: object = None) -> Iterator[Finding]:
    for job in p.jobs:
        for s in job.scripts:
            for h in pipe_to_shell(s):
                yield finding("runtime-tool-install", p, s.line_at(h.offset),
                              f"script pipes a download into an interpreter: "
                              f"`{h.text.strip()[:120]}`", job=job, command=h.text.strip())
            for d in downloads(s):
                if d.version == "latest" and not d.piped:
                    sev = "high" if d.tool in SECURITY_TOOLS else "medium"
                    yield finding("runtime-tool-install", p, s.line_at(d.offset),
                                  f"downloads the latest release of {d.tool} ({d.url})",
                                  job=job, severity=sev, url=d.url)
            for h in latest_installs(s):
                yield finding("runtime-tool-install", p, s.line_at(h.offset),
                              f"installs whatever version is published now: "
                              f"`{h.text.strip()[:120]}`", job=job, severity="medium",
                              command=h.text.strip())
            for h, tool in unversioned_security_tools(s):
                yield finding("runtime-tool-install", p, s.line_at(h.offset),
                              f"installs the scanner {tool} without a version: "
                              f"`{h.text[:120]}`", job=job, command=h.text)
        for st in job.steps:
            v = text(st.with_.get("version")).strip().lower()
            if st.uses and v == "latest":
                yield finding("runtime-tool-install", p, key_line(st.with_, "version", st.line),
                              f"`{st.uses}` installs its tool at `version: latest`", job=job,
                              severity="medium", uses=str(st.uses))
