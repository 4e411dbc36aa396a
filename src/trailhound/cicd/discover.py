"""Which files to audit, for PATH arguments that are repository roots, folders or files.

- A file is always audited (an error entry if it is not a pipeline).
- A folder is walked: `.github/workflows/*.yml|yaml`, `action.yml|yaml` anywhere,
  `.gitlab-ci.yml` anywhere; any other YAML is audited only if its text looks like a
  workflow (a `jobs:` and an `on:` key at the top level), so a folder of loose workflows works
  while docker-compose and Kubernetes files in a repository are left alone.
- `.git`, `node_modules`, virtualenvs and vendored trees are not walked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "vendor", "__pycache__",
                       ".tox", ".mypy_cache", ".ruff_cache", "dist", "build"})
YAML_EXT = (".yml", ".yaml")
_WORKFLOW_SNIFF = re.compile(r"(?m)^jobs\s*:")
_ON_SNIFF = re.compile(r"(?m)^[\"']?on[\"']?\s*:")


@dataclass(frozen=True, slots=True)
class Candidate:
    path: Path
    display: str
    kind: str  # workflow | action | gitlab | sniff
    explicit: bool
    root: Path
    include_root: Path | None = None
    # GitLab: global `variables:` of the file that included this one (they apply here too)
    parent_env: Any = None
    parent_path: str | None = None


def classify(path: Path) -> str:
    name = path.name.lower()
    parts = [p.lower() for p in path.parts]
    if name in ("action.yml", "action.yaml"):
        return "action"
    if name.endswith(".gitlab-ci.yml") or name.endswith(".gitlab-ci.yaml"):
        return "gitlab"
    if len(parts) >= 3 and parts[-3] == ".github" and parts[-2] == "workflows":
        return "workflow"
    return "sniff"


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def looks_like_workflow(text: str) -> bool:
    return bool(_WORKFLOW_SNIFF.search(text) and _ON_SNIFF.search(text))


def discover(paths: list[Path], cwd: Path | None = None) -> tuple[list[Candidate], list[str]]:
    """Candidates in a stable order, and the PATH arguments that do not exist."""
    cwd = cwd or Path.cwd()
    out: list[Candidate] = []
    missing: list[str] = []
    seen: set[Path] = set()

    def add(p: Path, root: Path, explicit: bool) -> None:
        rp = p.resolve()
        if rp in seen:
            return
        seen.add(rp)
        out.append(Candidate(p, _display(p, root), classify(p), explicit, root))

    for arg in paths:
        if arg.is_file():
            add(arg, cwd, True)
        elif arg.is_dir():
            found: list[Path] = []
            for dirpath, dirnames, filenames in os.walk(arg):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                for f in sorted(filenames):
                    if f.lower().endswith(YAML_EXT):
                        found.append(Path(dirpath) / f)
            for p in found:
                add(p, arg, False)
        else:
            missing.append(str(arg))
    return out, missing
