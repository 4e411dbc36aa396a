"""Reading references: `uses:` strings, image names, and whether they are immutable.

A 40-hex commit SHA and an image `@sha256:` digest are the only references that cannot
be repointed after review (D3FEND D3-SBV); tags and branches can, and were (tj-actions in
March 2025, trivy-action and setup-trivy in March 2026).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

SHA_RE = re.compile(r"^[0-9a-fA-F]{40}$")
DIGEST_RE = re.compile(r"@sha256:[0-9a-fA-F]{64}$")
EXPR_RE = re.compile(r"\$\{\{|\$\{?[A-Za-z_]")

FIRST_PARTY_OWNERS = frozenset({"actions", "github"})
"""GitHub's own organisations: still better pinned, but a lower risk than a stranger's."""


@dataclass(frozen=True, slots=True)
class UsesRef:
    """A parsed `uses:` value."""

    kind: str  # local | docker | action | reusable-workflow | invalid
    owner: str = ""
    repo: str = ""
    path: str = ""
    ref: str = ""

    @property
    def slug(self) -> str:
        """`owner/repo` (lower case: GitHub names are case-insensitive)."""
        return f"{self.owner}/{self.repo}".lower()

    @property
    def name(self) -> str:
        return f"{self.owner}/{self.repo}" + (f"/{self.path}" if self.path else "")

    @property
    def pinned(self) -> bool:
        return bool(SHA_RE.match(self.ref))

    @property
    def first_party(self) -> bool:
        return self.owner.lower() in FIRST_PARTY_OWNERS


@lru_cache(maxsize=8192)
def parse_uses(value: str) -> UsesRef:
    v = str(value).strip()
    if v.startswith("./") or v.startswith("../") or v == ".":
        return UsesRef("local", path=v)
    if v.startswith("docker://"):
        return UsesRef("docker", path=v[len("docker://"):])
    name, sep, ref = v.partition("@")
    parts = name.split("/")
    if not sep or len(parts) < 2 or not parts[0] or not parts[1]:
        return UsesRef("invalid", path=v)
    path = "/".join(parts[2:])
    kind = ("reusable-workflow" if path.startswith(".github/workflows/")
            and path.endswith((".yml", ".yaml")) else "action")
    return UsesRef(kind, parts[0], parts[1], path, ref)


@dataclass(frozen=True, slots=True)
class ImageRef:
    raw: str
    name: str  # registry/repository without tag or digest, lower case
    tag: str  # '' when absent (means `latest`)
    digest: str

    @property
    def pinned(self) -> bool:
        return bool(self.digest)

    @property
    def short_name(self) -> str:
        """Without a Docker Hub registry prefix: `aquasec/trivy` for `docker.io/aquasec/trivy`."""
        for pre in ("docker.io/library/", "docker.io/", "index.docker.io/",
                    "registry-1.docker.io/"):
            if self.name.startswith(pre):
                return self.name[len(pre):]
        return self.name


@lru_cache(maxsize=8192)
def parse_image(value: str) -> ImageRef | None:
    """None when the image is computed (`${{ matrix.image }}`, `$IMAGE`): nothing to judge."""
    v = str(value).strip()
    if v.startswith("docker://"):
        v = v[len("docker://"):]
    if not v or EXPR_RE.search(v):
        return None
    digest = ""
    m = DIGEST_RE.search(v)
    if m:
        digest = m.group()[1:]
        v = v[: m.start()]
    elif "@" in v:
        v, _, digest = v.partition("@")
        digest = digest if digest.startswith("sha256:") and len(digest) == 71 else ""
    tag = ""
    slash = v.rfind("/")
    colon = v.rfind(":")
    if colon > slash:
        v, tag = v[:colon], v[colon + 1:]
    return ImageRef(str(value), v.lower(), tag, digest)
