"""Template injection: `${{ … }}` with attacker-controlled context expanded into shell
text (`run:`) or into `actions/github-script`'s JavaScript, directly or through an `env.X`
or `matrix.X` that was itself set from such an expression."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from trailhound.cicd.checks.base import finding
from trailhound.cicd.model import Finding
from trailhound.cicd.pipeline import GITHUB_ACTION, GITLAB, Job, Pipeline, Step
from trailhound.cicd.refs import parse_uses
from trailhound.cicd.yamlnodes import LStr, as_list, as_map, iter_strings

EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)

# Fields anyone who can open an issue, a pull request or a comment chooses freely.
ATTACKER = re.compile(
    r"github\.event\.(?:issue\.(?:title|body)"
    r"|pull_request\.(?:title|body|head\.ref|head\.label|head\.repo\.default_branch"
    r"|head\.repo\.name|head\.repo\.description)"
    r"|comment\.body|review\.body|review_comment\.body|discussion\.(?:title|body)"
    r"|pages\b[^\s}]*\.page_name|commits\b[^\s}]*\.(?:message|author\.(?:email|name))"
    r"|head_commit\.(?:message|author\.(?:email|name)|committer\.(?:email|name))"
    r"|workflow_run\.(?:head_branch|display_title|head_commit\.(?:message|author\.\w+)"
    r"|pull_requests\b[^\s}]*\.head\.ref|head_repository\.description)"
    r"|release\.(?:name|body)|label\.name|ref)\b"
    r"|github\.head_ref\b")
# github.event fields that are numbers, ids, SHAs or GitHub-generated URLs.
SAFE_EVENT = re.compile(
    r"github\.event\.[\w.\[\]*'\"-]*?(?:\.(?:id|number|sha|node_id|url|html_url|api_url"
    r"|created_at|updated_at|merged|draft|state|action|before|after|size|run_number"
    r"|run_attempt|head_sha|base_sha|default_branch|full_name|private|fork|forced"
    r"|deleted|locked|conclusion|status|event|workflow_id)|\.(?:repository|sender)\.(?:"
    r"id|name|login|full_name|html_url))\b")
EVENT = re.compile(r"github\.event\.[\w.\[\]*'\"-]+")
INPUTS = re.compile(r"\b(?:github\.event\.inputs|inputs)\.[\w-]+")
OUTPUTS = re.compile(r"\b(?:steps|needs|jobs)\.[\w-]+\.(?:outputs|result)\b[\w.\[\]'\"*-]*")


def _classify(expr: str, kind: str) -> tuple[str, str] | None:
    m = ATTACKER.search(expr)
    if m:
        return "high", m.group()
    for e in EVENT.finditer(expr):
        if not SAFE_EVENT.fullmatch(e.group()) and not SAFE_EVENT.match(e.group()):
            return "medium", e.group()
    m = INPUTS.search(expr)
    if m:
        return ("medium" if kind == GITHUB_ACTION else "low"), m.group()
    m = OUTPUTS.search(expr)
    if m:  # outputs of earlier steps often carry file names, PR data, API answers
        return "low", m.group()
    return None


INDIRECT = re.compile(r"\b(env|matrix)\.([A-Za-z_][\w-]*)")
_RANK = {"low": 1, "medium": 2, "high": 3}


def _worst(a: tuple[str, str] | None, b: tuple[str, str] | None) -> tuple[str, str] | None:
    if a is None or (b is not None and _RANK[b[0]] > _RANK[a[0]]):
        return b
    return a


def _classify_value(v: Any, kind: str, via: str) -> tuple[str, str] | None:
    """A value an `env.X`/`matrix.X` points at: judged by the expressions inside it."""
    out = None
    for s in iter_strings(v):
        for m in EXPR.finditer(s):
            c = _classify(m.group(1), kind)
            if c is None and via.startswith("matrix."):
                # A matrix computed from any expression cannot be shown to be static.
                c = ("low", m.group(1).strip())
            if c:
                out = _worst(out, (c[0], f"{via} <- {c[1]}"))
    return out


def _resolve(name: str, key: str, p: Pipeline, job: Job, st: Step, kind: str
             ) -> tuple[str, str] | None:
    """Follow `env.KEY` to the nearest definition (step, job, workflow) and `matrix.KEY` to
    the job's strategy; a value set from attacker input is as dangerous as the input."""
    if name == "env":
        for scope in (st.env, job.env, p.env):
            if key in scope:
                return _classify_value(scope[key], kind, f"env.{key}")
        return None
    matrix = as_map(job.raw.get("strategy")).get("matrix")
    if isinstance(matrix, str):  # the whole matrix is one expression (fromJSON(...))
        return _classify_value(matrix, kind, f"matrix.{key}")
    m = as_map(matrix)
    vals = [m.get(key)] + [x.get(key) for x in as_list(m.get("include")) if isinstance(x, dict)]
    return _classify_value(vals, kind, f"matrix.{key}")


def _scan(s: LStr, kind: str, p: Pipeline, job: Job, st: Step
          ) -> Iterator[tuple[int, str, str]]:
    for m in EXPR.finditer(s):
        expr = m.group(1)
        c = _classify(expr, kind)
        for im in INDIRECT.finditer(expr):
            c = _worst(c, _resolve(im.group(1), im.group(2), p, job, st, kind))
        if c:
            yield s.line_at(m.start()), c[0], c[1]


def check(p: Pipeline, kb: Any = None) -> Iterator[Finding]:
    if p.kind == GITLAB:
        return
    for job in p.jobs:
        for st in job.steps:
            targets: list[tuple[LStr, str]] = []
            if st.run is not None:
                targets.append((st.run, "run"))
            if st.uses and parse_uses(st.uses).slug == "actions/github-script":
                sc = st.with_.get("script")
                if isinstance(sc, LStr):
                    targets.append((sc, "github-script"))
            for s, where in targets:
                for line, sev, ctx in _scan(s, p.kind, p, job, st):
                    yield finding("template-injection", p, line,
                                  f"`${{{{ {ctx} }}}}` is expanded into the {where} text; "
                                  "its value can carry shell/JS code", job=job, severity=sev,
                                  context=ctx)
