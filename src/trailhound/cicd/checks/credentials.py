"""Long-lived AWS keys in reach of a job, versus OIDC short-lived roles.

`aws_keys(p)` lists every place a pipeline hands an access key to a job; the check turns
them into findings, and `profiles.py` turns the same list into credential profiles for
CloudTrail. A key defined at workflow level is in reach of every job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from trailhound.cicd.checks.base import finding, mutable_third_party, secret_names
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import GITLAB, Job, Pipeline
from trailhound.cicd.yamlnodes import LMap, key_line, text

KEY_NAMES = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws-access-key-id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws-secret-access-key": "AWS_SECRET_ACCESS_KEY",
}
LITERAL_KEY = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_SCRIPT_KEY = re.compile(
    r"(?:export\s+)?(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)\s*=\s*(\S+)"
    r"|aws\s+configure\s+set\s+(aws_access_key_id|aws_secret_access_key)\s+(\S+)")
_GL_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@dataclass(slots=True)
class KeyRef:
    """One hand-over of an AWS key: where, to which jobs, from which secrets."""

    scope: str  # workflow | job | step | with | secrets | script | variables | inherited
    line: int
    jobs: list[Job]
    secret_names: list[str] = field(default_factory=list)
    env_names: list[str] = field(default_factory=list)
    literal: bool = False


def _from_mapping(m: LMap, p: Pipeline) -> tuple[list[str], list[str], int, bool]:
    """Key variables named in an env/with/variables mapping -> (env names, secret names,
    first line, literal key present)."""
    envs: list[str] = []
    secrets: list[str] = []
    line = 0
    literal = False
    for k, v in m.items():
        canon = KEY_NAMES.get(k.lower())
        if canon is None:
            continue
        val = text(v) if not isinstance(v, LMap) else text(v.get("value"))
        names = secret_names(val)
        if p.kind == GITLAB:
            names += [n for n in _GL_VAR.findall(val) if n not in names]
        lit = bool(LITERAL_KEY.search(val)) or (canon == "AWS_SECRET_ACCESS_KEY" and bool(
            re.fullmatch(r"[A-Za-z0-9/+=]{40}", val.strip())))
        if not names and not lit and "${{" not in val and not val.startswith("$"):
            continue  # an empty or placeholder value hands over nothing
        envs.append(canon)
        secrets.extend(names or ([f"<{canon} literal>"] if lit else []))
        literal = literal or lit
        line = line or key_line(m, k)
    return envs, secrets, line, literal


def aws_keys(p: Pipeline) -> list[KeyRef]:
    """Every AWS key hand-over in `p` (computed once per pipeline; three users need it)."""
    if "aws_keys" not in p.cache:
        p.cache["aws_keys"] = _aws_keys(p)
    return list(p.cache["aws_keys"])


def _aws_keys(p: Pipeline) -> list[KeyRef]:
    out: list[KeyRef] = []
    envs, secrets, line, lit = _from_mapping(p.env, p)
    if envs:
        out.append(KeyRef("workflow" if p.kind != GITLAB else "variables", line,
                          list(p.jobs), secrets, envs, lit))
    envs, secrets, _line, lit = _from_mapping(p.inherited_env, p)
    if envs:
        for job in p.jobs:
            if job.id != "(default)":
                out.append(KeyRef("inherited", job.line, [job], secrets, envs, lit))
    for job in p.jobs:
        envs, secrets, line, lit = _from_mapping(job.env, p)
        if envs:
            out.append(KeyRef("job" if p.kind != GITLAB else "variables", line, [job],
                              secrets, envs, lit))
        envs, secrets, line, lit = _from_mapping(job.with_, p)
        if envs:
            out.append(KeyRef("with", line, [job], secrets, envs, lit))
        if isinstance(job.secrets, LMap):  # `secrets:` handed to a reusable workflow
            envs, secrets, line, lit = _from_mapping(job.secrets, p)
            if envs:
                out.append(KeyRef("secrets", line, [job], secrets, envs, lit))
        for st in job.steps:
            for scope, m in (("step", st.env), ("with", st.with_)):
                envs, secrets, line, lit = _from_mapping(m, p)
                if envs:
                    out.append(KeyRef(scope, line, [job], secrets, envs, lit))
        for s in job.scripts:
            for m in _SCRIPT_KEY.finditer(s):
                name = (m.group(1) or m.group(3) or "").upper()
                val = m.group(2) or m.group(4) or ""
                names = secret_names(val) or (_GL_VAR.findall(val) if p.kind == GITLAB
                                              else [])
                lit = bool(LITERAL_KEY.search(val))
                if names or lit:
                    out.append(KeyRef("script", s.line_at(m.start()), [job],
                                      names or [f"<{name} literal>"], [name], lit))
    return out


def _where(k: KeyRef, p: Pipeline) -> str:
    return {"workflow": "workflow-level env (every job)", "job": "job env",
            "step": "step env", "with": "action inputs", "script": "a script",
            "variables": "CI variables", "secrets": "secrets passed to a reusable workflow",
            "inherited": f"the global variables of {p.inherited_from}, which include this "
                         "file"}[k.scope]


def check(p: Pipeline, kb: Any = None) -> Iterator[Finding]:
    for k in aws_keys(p):
        risky = {j.id: mutable_third_party(j) for j in k.jobs}
        risky = {j: r for j, r in risky.items() if r}
        names = ", ".join(dict.fromkeys(k.secret_names)) or "?"
        if k.literal:
            sev, extra = "critical", " The key is written in the file itself."
        elif risky:
            sev = "critical"
            sample = "; ".join(f"{j}: {', '.join(r[:2])}" for j, r in list(risky.items())[:2])
            extra = f" Third-party code by mutable reference runs next to it ({sample})."
        else:
            sev, extra = "high", ""
        job = k.jobs[0] if len(k.jobs) == 1 else None
        yield finding("long-lived-aws-key", p, k.line,
                      f"AWS access key from {names} in {_where(k, p)}.{extra}", job=job,
                      severity=sev, secrets=list(dict.fromkeys(k.secret_names)),
                      jobs=[j.id for j in k.jobs])
