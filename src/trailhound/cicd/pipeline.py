"""One parsed pipeline file, whatever its CI system: jobs, steps, scripts, images.

The GitHub and GitLab parsers both fill this shape so that checks which make sense for
both (images by digest, tools piped from curl, AWS keys in variables) are written once.
Every value keeps its YAML line (see `yamlnodes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trailhound.cicd.yamlnodes import LMap, LStr

GITHUB_WORKFLOW = "github-workflow"
GITHUB_ACTION = "github-action"
GITLAB = "gitlab"


@dataclass(slots=True)
class Step:
    """A GitHub step (`uses:` or `run:`); GitLab jobs have scripts instead."""

    index: int
    line: int
    raw: LMap
    uses: LStr | None = None
    run: LStr | None = None
    with_: LMap = field(default_factory=LMap)
    env: LMap = field(default_factory=LMap)


@dataclass(slots=True)
class Image:
    """A container image a job runs in or next to, with where it was named."""

    ref: LStr
    line: int
    role: str  # container | service | step | image | docker-action


@dataclass(slots=True)
class Job:
    id: str
    line: int
    raw: LMap
    steps: list[Step] = field(default_factory=list)
    scripts: list[LStr] = field(default_factory=list)  # every shell text the job runs
    uses: LStr | None = None  # reusable workflow call
    env: LMap = field(default_factory=LMap)
    permissions: Any = None
    has_permissions: bool = False
    runs_on: str = ""
    images: list[Image] = field(default_factory=list)
    with_: LMap = field(default_factory=LMap)
    secrets: Any = None


@dataclass(slots=True)
class Include:
    """A GitLab `include:` entry (local, project, remote, template or component)."""

    kind: str
    target: str
    ref: str | None
    line: int
    integrity: bool = False


@dataclass(slots=True)
class Pipeline:
    path: str
    kind: str
    raw: LMap
    triggers: dict[str, int] = field(default_factory=dict)
    trigger_config: dict[str, Any] = field(default_factory=dict)
    env: LMap = field(default_factory=LMap)
    permissions: Any = None
    has_permissions: bool = False
    permissions_line: int = 1
    jobs: list[Job] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    header_line: int = 1
    cache: dict[str, Any] = field(default_factory=dict)  # derived facts shared by checks
    # GitLab: global variables of the including file, which reach this file's jobs too.
    inherited_env: LMap = field(default_factory=LMap)
    inherited_from: str | None = None
