"""The records an audit produces: findings, file errors, dependencies, and the result.

Plain frozen dataclasses so that the CLI, the SARIF writer, the profile writer and tests all
read the same thing, and so a caller from Python gets exactly what the command prints.
Every text field may hold attacker-written workflow content: renderers escape it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {s: i + 1 for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class Finding:
    """One weakness at one place: `rule_id` names the check (see `checks.RULES`)."""

    rule_id: str
    severity: str
    path: str
    line: int
    message: str
    fix: str
    job: str | None = None
    column: int = 1
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FileError:
    """A file that could not be audited (malformed YAML, not a pipeline, too large)."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Dependency:
    """One thing a pipeline pulls in and runs: an action, a reusable workflow, an image,
    an included GitLab file, or a tool downloaded by a script.

    `pinned` is True only for immutable references (a 40-hex commit SHA, an image digest,
    a download with a checksum check nearby is NOT considered: we cannot prove it).
    """

    path: str
    line: int
    kind: str  # action | reusable-workflow | image | include | tool
    name: str
    ref: str | None
    pinned: bool
    job: str | None = None
    source: str | None = None  # the raw text it came from (uses:, image:, URL)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class AuditResult:
    """Everything `audit(...)` found, in file order."""

    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    inventory: list[Dependency] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)

    def worst(self) -> str | None:
        """The highest severity among the findings, or None."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITY_RANK.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "files": self.files,
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
        }
