"""`audit(paths)`: the public entry point behind `trailhound audit-ci`.

Reads each candidate file, parses it as a GitHub workflow, a GitHub action or GitLab CI,
runs every check, and collects findings, the dependency inventory and credential profiles.
One bad file becomes one `FileError` with a one-line reason; the others are still audited.
GitLab `include: local:` files inside the audited root are followed and audited too.
"""

from __future__ import annotations

from pathlib import Path

from trailhound.cicd.checks import run_checks
from trailhound.cicd.discover import Candidate, classify, discover, looks_like_workflow
from trailhound.cicd.inventory import inventory
from trailhound.cicd.known_bad import KnownBad, builtin
from trailhound.cicd.model import SEVERITY_RANK, AuditResult, FileError, Finding
from trailhound.cicd.parse_github import parse_action, parse_workflow
from trailhound.cicd.parse_gitlab import parse_gitlab
from trailhound.cicd.pipeline import GITLAB, Pipeline
from trailhound.cicd.profiles import profiles_for
from trailhound.cicd.yamlnodes import MAX_BYTES, LMap, YamlError, load


class AuditPathError(ValueError):
    """A PATH argument does not exist (a usage error, not a file error)."""


def _read(c: Candidate) -> str:
    size = c.path.stat().st_size
    if size > MAX_BYTES:
        raise YamlError(f"file larger than {MAX_BYTES:,} bytes")
    return c.path.read_bytes().decode("utf-8", errors="replace")


def _parse(c: Candidate, text: str) -> Pipeline | None:
    """None when a walked (not explicit) file is not a pipeline: silently not ours."""
    kind = c.kind
    if kind == "sniff":
        if not looks_like_workflow(text):
            if c.explicit:
                doc = load(text)
                if isinstance(doc, dict) and "runs" in doc:
                    return parse_action(c.display, doc)
                if isinstance(doc, dict) and "jobs" not in doc and any(
                        isinstance(v, dict) and "script" in v for v in doc.values()):
                    return parse_gitlab(c.display, doc)
                raise ValueError("not a GitHub workflow, action or GitLab CI file")
            return None
        kind = "workflow"
    doc = load(text)
    if kind == "action":
        return parse_action(c.display, doc)
    if kind == "gitlab":
        return parse_gitlab(c.display, doc)
    return parse_workflow(c.display, doc)


def _local_includes(p: Pipeline, c: Candidate) -> list[Candidate]:
    out: list[Candidate] = []
    # `local:` paths are relative to the project root: the folder of the top-level
    # .gitlab-ci.yml (its includes inherit that root).
    root = (c.include_root or c.path.parent).resolve()
    for inc in p.includes:
        if inc.kind != "local" or any(ch in inc.target for ch in "*$"):
            continue
        target = (root / inc.target.lstrip("/")).resolve()
        if root not in target.parents or not target.is_file():
            continue  # never follow an include out of the audited tree
        try:
            disp = target.relative_to(c.root.resolve()).as_posix()
        except ValueError:
            disp = target.as_posix()
        env = LMap(c.parent_env or {})
        env.line, env.key_lines = 1, {}
        env.update({k: v for k, v in p.env.items()})
        out.append(Candidate(target, disp, "gitlab", False, c.root, root, env,
                             c.parent_path or p.path))
    return out


def audit(paths: list[str | Path], *, known_bad: KnownBad | None = None,
          cwd: Path | None = None) -> AuditResult:
    """Audit files and folders. Raises `AuditPathError` if a PATH does not exist."""
    cands, missing = discover([Path(p) for p in paths], cwd=cwd)
    if missing:
        raise AuditPathError(f"no such file or folder: {', '.join(missing)}")
    kb = known_bad or builtin()
    res = AuditResult()
    done: set[Path] = set()
    queue = list(cands)
    while queue:
        c = queue.pop(0)
        rp = c.path.resolve()
        if rp in done:
            continue
        try:
            p = _parse(c, _read(c))
        except (YamlError, ValueError, OSError, UnicodeError) as e:
            done.add(rp)
            reason = " ".join(str(e).split()) or type(e).__name__
            res.files.append(c.display)
            res.errors.append(FileError(c.display, reason[:300]))
            continue
        if p is None:
            continue  # a walked YAML file that is no pipeline; an include may claim it later
        if c.parent_env:
            p.inherited_env, p.inherited_from = c.parent_env, c.parent_path
        done.add(rp)
        res.files.append(c.display)
        res.findings.extend(run_checks(p, kb))
        res.inventory.extend(inventory(p))
        res.profiles.extend(profiles_for(p))
        if p.kind == GITLAB:
            queue[0:0] = [x for x in _local_includes(p, c) if x.path.resolve() not in done]
    # A template reached through an anchor or `extends` is reported once, at its line.
    uniq: dict[tuple[str, str, int, str], Finding] = {}
    for f in res.findings:
        uniq.setdefault((f.rule_id, f.path, f.line, f.message), f)
    res.findings = list(uniq.values())
    seen_dep: set[tuple[str, int, str, str, str | None]] = set()
    deps = []
    for d in res.inventory:
        key = (d.path, d.line, d.kind, d.name, d.ref)
        if key not in seen_dep:
            seen_dep.add(key)
            deps.append(d)
    res.inventory = deps
    res.findings.sort(key=lambda f: (f.path, f.line, -SEVERITY_RANK[f.severity], f.rule_id))
    return res


__all__ = ["AuditPathError", "audit", "classify"]
