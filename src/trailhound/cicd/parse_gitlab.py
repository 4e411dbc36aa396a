"""GitLab CI (`.gitlab-ci.yml` and files it includes locally): jobs, scripts, images,
variables and `include:` entries, with lines.

Every top-level key that is not a GitLab keyword and holds a mapping is a job; hidden jobs
(`.name`) are templates that other jobs `extends:`, so they are audited too: a weakness in a
template is a weakness in every job that uses it. Global `image`/`services`/`variables`/
`before_script` (also under `default:`) apply to every job.
"""

from __future__ import annotations

from typing import Any

from trailhound.cicd.pipeline import GITLAB, Image, Include, Job, Pipeline
from trailhound.cicd.yamlnodes import LMap, LStr, as_list, as_map, key_line, line_of, text

KEYWORDS = frozenset({
    "default", "include", "stages", "variables", "workflow", "image", "services", "cache",
    "before_script", "after_script", "spec", "pages_build", "types",
})


def _scripts(v: Any) -> list[LStr]:
    """`script:` is a string or a (nested) list of strings."""
    out: list[LStr] = []
    for x in as_list(v):
        if isinstance(x, LStr):
            out.append(x)
        elif isinstance(x, list):
            out.extend(_scripts(x))
    return out


def _image(v: Any) -> LStr | None:
    if isinstance(v, LStr):
        return v
    if isinstance(v, LMap) and isinstance(v.get("name"), LStr):
        return v["name"]
    return None


def _images(raw: LMap) -> list[Image]:
    out: list[Image] = []
    img = _image(raw.get("image"))
    if img is not None:
        out.append(Image(img, line_of(img), "image"))
    for svc in as_list(raw.get("services")):
        ref = _image(svc)
        if ref is not None:
            out.append(Image(ref, line_of(ref), "service"))
    return out


def _includes(v: Any) -> list[Include]:
    out: list[Include] = []
    for e in as_list(v):
        if isinstance(e, LStr):
            kind = "remote" if e.startswith(("http://", "https://")) else "local"
            out.append(Include(kind, str(e), None, line_of(e)))
        elif isinstance(e, LMap):
            for kind in ("local", "remote", "template", "component", "project"):
                if kind in e:
                    target = e[kind]
                    files = [str(f) for f in as_list(e.get("file")) if isinstance(f, str)]
                    name = str(target) + (":" + ",".join(files) if files else "")
                    ref = e.get("ref")
                    if kind == "component" and "@" in str(target):
                        name, _, ref = str(target).rpartition("@")
                    out.append(Include(kind, name, text(ref) or None, key_line(e, kind),
                                       integrity="integrity" in e))
                    break
    return out


def parse_gitlab(path: str, doc: Any) -> Pipeline:
    """A `.gitlab-ci.yml` (or an included file). Raises ValueError when not a mapping."""
    if not isinstance(doc, LMap):
        raise ValueError("not a GitLab CI file (top level is not a mapping)")
    p = Pipeline(path=path, kind=GITLAB, raw=doc)
    p.includes = _includes(doc.get("include"))
    default = as_map(doc.get("default"))
    glob_images = _images(doc) + _images(default)
    glob_scripts = (_scripts(doc.get("before_script")) + _scripts(default.get("before_script"))
                    + _scripts(doc.get("after_script"))
                    + _scripts(default.get("after_script")))
    p.env = as_map(doc.get("variables"))
    p.has_permissions = True  # GitLab's job token has no per-file permission block
    for name, raw in doc.items():
        if name in KEYWORDS or not isinstance(raw, LMap):
            continue
        if not any(k in raw for k in ("script", "trigger", "extends", "image", "run",
                                      "before_script", "stage")):
            continue
        job = Job(id=name, line=key_line(doc, name), raw=raw)
        job.scripts = (_scripts(raw.get("before_script")) + _scripts(raw.get("script"))
                       + _scripts(raw.get("after_script")))
        job.images = _images(raw)
        job.env = as_map(raw.get("variables"))
        job.has_permissions = True
        tags = [str(t) for t in as_list(raw.get("tags")) if isinstance(t, str)]
        job.runs_on = " ".join(tags)
        p.jobs.append(job)
    # Global image/scripts: attribute them to a pseudo-job so they are checked once.
    if glob_images or glob_scripts:
        g = Job(id="(default)", line=1, raw=doc, scripts=glob_scripts, images=glob_images,
                has_permissions=True)
        p.jobs.insert(0, g)
    return p
