"""GitHub Actions: workflows (`.github/workflows/*.yml`) and composite/docker actions
(`action.yml`), read into `Pipeline` with lines kept.

Only shape is interpreted here (which key is a job, a step, a trigger); judging is the
checks' work. Odd shapes (a job that is a string, steps that are not a list) are skipped
rather than fatal, so one strange job does not hide findings in the others.
"""

from __future__ import annotations

from typing import Any

from trailhound.cicd.pipeline import (
    GITHUB_ACTION,
    GITHUB_WORKFLOW,
    Image,
    Job,
    Pipeline,
    Step,
)
from trailhound.cicd.yamlnodes import LMap, LStr, as_list, as_map, key_line, line_of, text


def _triggers(on: Any) -> tuple[dict[str, int], dict[str, Any]]:
    """`on:` can be a string, a list of strings, or a mapping of event -> config."""
    out: dict[str, int] = {}
    cfg: dict[str, Any] = {}
    if isinstance(on, str):
        out[str(on)] = line_of(on)
    elif isinstance(on, list):
        for e in on:
            if isinstance(e, str):
                out[str(e)] = line_of(e)
    elif isinstance(on, LMap):
        for k, v in on.items():
            out[k] = key_line(on, k)
            cfg[k] = v
    return out, cfg


def _steps(raw: Any) -> list[Step]:
    steps: list[Step] = []
    for i, s in enumerate(as_list(raw)):
        if not isinstance(s, LMap):
            continue
        uses = s.get("uses") if isinstance(s.get("uses"), str) else None
        run = s.get("run") if isinstance(s.get("run"), str) else None
        steps.append(Step(index=i, line=s.line, raw=s, uses=uses, run=run,
                          with_=as_map(s.get("with")), env=as_map(s.get("env"))))
    return steps


def _image_ref(v: Any) -> LStr | None:
    if isinstance(v, LStr):
        return v
    if isinstance(v, LMap) and isinstance(v.get("image"), LStr):
        return v["image"]
    return None


def _runs_on(v: Any) -> str:
    if isinstance(v, str):
        return str(v)
    if isinstance(v, list):
        return " ".join(str(x) for x in v if isinstance(x, str))
    if isinstance(v, LMap):
        parts = [text(v.get("group"))] + [str(x) for x in as_list(v.get("labels"))
                                          if isinstance(x, str)]
        return " ".join(p for p in parts if p)
    return ""


def _job(job_id: str, raw: LMap, line: int) -> Job:
    job = Job(id=job_id, line=line, raw=raw)
    if isinstance(raw.get("uses"), str):
        job.uses = raw["uses"]
    job.steps = _steps(raw.get("steps"))
    job.scripts = [s.run for s in job.steps if s.run is not None]
    job.env = as_map(raw.get("env"))
    job.has_permissions = "permissions" in raw
    job.permissions = raw.get("permissions")
    job.runs_on = _runs_on(raw.get("runs-on"))
    job.with_ = as_map(raw.get("with"))
    job.secrets = raw.get("secrets")
    c = _image_ref(raw.get("container"))
    if c is not None:
        job.images.append(Image(c, line_of(c), "container"))
    for _name, svc in as_map(raw.get("services")).items():
        ref = _image_ref(svc)
        if ref is not None:
            job.images.append(Image(ref, line_of(ref), "service"))
    for st in job.steps:
        if st.uses and st.uses.startswith("docker://"):
            job.images.append(Image(st.uses, line_of(st.uses), "step"))
    return job


def parse_workflow(path: str, doc: Any) -> Pipeline:
    """A workflow file. Raises ValueError when it is not a mapping with `jobs`."""
    if not isinstance(doc, LMap) or not isinstance(doc.get("jobs"), LMap):
        raise ValueError("not a GitHub Actions workflow (no `jobs:` mapping)")
    p = Pipeline(path=path, kind=GITHUB_WORKFLOW, raw=doc)
    on = doc.get("on", doc.get("true"))
    p.triggers, p.trigger_config = _triggers(on)
    p.header_line = key_line(doc, "on", 1)
    p.env = as_map(doc.get("env"))
    p.has_permissions = "permissions" in doc
    p.permissions = doc.get("permissions")
    p.permissions_line = key_line(doc, "permissions", p.header_line)
    for job_id, raw in doc["jobs"].items():
        if isinstance(raw, LMap):
            p.jobs.append(_job(job_id, raw, key_line(doc["jobs"], job_id)))
    return p


def parse_action(path: str, doc: Any) -> Pipeline:
    """An `action.yml`: composite steps become one pseudo-job `(composite)`; a Docker
    action contributes its image."""
    if not isinstance(doc, LMap) or not isinstance(doc.get("runs"), LMap):
        raise ValueError("not a GitHub action (no `runs:` mapping)")
    runs = doc["runs"]
    p = Pipeline(path=path, kind=GITHUB_ACTION, raw=doc, header_line=key_line(doc, "runs"))
    using = text(runs.get("using")).lower()
    job = Job(id="(composite)" if using == "composite" else f"({using or 'action'})",
              line=runs.line, raw=runs)
    job.steps = _steps(runs.get("steps"))
    job.scripts = [s.run for s in job.steps if s.run is not None]
    for st in job.steps:
        if st.uses and st.uses.startswith("docker://"):
            job.images.append(Image(st.uses, line_of(st.uses), "step"))
    img = runs.get("image")
    if using == "docker" and isinstance(img, LStr) and not img.startswith(("Dockerfile", "./")):
        job.images.append(Image(img, line_of(img), "docker-action"))
    # An action inherits the caller's token; it never declares permissions itself.
    job.has_permissions = True
    p.has_permissions = True
    p.jobs.append(job)
    return p
