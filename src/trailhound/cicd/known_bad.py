"""Known-bad CI/CD dependencies, loaded from `data/known_bad.yml` (data only).

`KnownBad.match(kind, name, ref)` answers whether a reference names a compromised version
(`exact`) or is a tag/branch that could have resolved to one (`could-resolve`). Versions are
compared numerically; a partial tag such as `v45` stands for every `45.x.y` it may point at,
so it matches when any of them is affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trailhound.cicd.refs import SHA_RE

_VER = re.compile(r"^v?(\d+(?:\.\d+){0,3})$")


def parse_version(ref: str) -> tuple[int, ...] | None:
    m = _VER.match(ref.strip())
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def _pad(v: tuple[int, ...]) -> tuple[int, ...]:
    return v + (0,) * (4 - len(v))


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    kind: str
    names: tuple[str, ...]
    advisory: str
    aliases: tuple[str, ...]
    date: str
    window: str
    severity: str
    fix: str
    sources: tuple[str, ...]
    versions: frozenset[tuple[int, ...]] = frozenset()
    last_affected: tuple[int, ...] | None = None
    below: tuple[int, ...] | None = None
    branches: frozenset[str] = frozenset()
    mutable_tags: frozenset[str] = frozenset()
    all_refs: bool = False
    shas: frozenset[str] = frozenset()
    safe: frozenset[str] = frozenset()

    def _version_hit(self, v: tuple[int, ...]) -> str | None:
        full = len(v) >= 3
        pv = _pad(v)
        if any(_pad(x) == pv for x in self.versions) or (
                not full and any(x[: len(v)] == v for x in self.versions)):
            return "exact" if full or v in self.versions else "could-resolve"
        lo = pv  # the lowest version a partial tag can point at
        if self.last_affected is not None and lo <= _pad(self.last_affected):
            return "exact" if full else "could-resolve"
        if self.below is not None and lo < _pad(self.below):
            return "exact" if full else "could-resolve"
        return None

    def match(self, ref: str | None) -> str | None:
        """'exact', 'could-resolve' or None for one reference (None ref means `latest`)."""
        r = (ref or "latest").strip()
        if r in self.safe:
            return None
        if SHA_RE.match(r):
            return "exact" if r.lower() in self.shas else None
        if r.lower() in self.mutable_tags or r in self.branches:
            return "could-resolve"
        v = parse_version(r)
        if v is not None:
            hit = self._version_hit(v)
            if hit:
                return hit
        if self.all_refs:
            return "could-resolve"
        return None


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    how: str  # exact | could-resolve

    @property
    def severity(self) -> str:
        return self.entry.severity if self.how == "exact" else "high"


@dataclass(slots=True)
class KnownBad:
    entries: list[Entry] = field(default_factory=list)

    def match(self, kind: str, name: str, ref: str | None) -> list[Match]:
        n = name.lower()
        out: list[Match] = []
        for e in self.entries:
            if e.kind == kind and n in e.names:
                how = e.match(ref)
                if how:
                    out.append(Match(e, how))
        return out


class KnownBadError(ValueError):
    """The data file is malformed (a packaging or editing mistake, caught by the tests)."""


def _vers(v: Any) -> tuple[int, ...] | None:
    if v is None:
        return None
    p = parse_version(str(v))
    if p is None:
        raise KnownBadError(f"not a version: {v!r}")
    return p


def _entry(d: dict[str, Any]) -> Entry:
    need = ("id", "kind", "names", "advisory", "date", "severity", "fix", "sources")
    missing = [k for k in need if not d.get(k)]
    if missing:
        raise KnownBadError(f"entry {d.get('id', '?')}: missing {', '.join(missing)}")
    if d["kind"] not in ("action", "tool", "image"):
        raise KnownBadError(f"entry {d['id']}: unknown kind {d['kind']!r}")
    a = d.get("affected") or {}
    versions = frozenset(p for p in (_vers(x) for x in a.get("versions", [])) if p)
    return Entry(
        id=str(d["id"]), kind=str(d["kind"]),
        names=tuple(str(n).lower() for n in d["names"]), advisory=str(d["advisory"]),
        aliases=tuple(str(x) for x in d.get("aliases") or ()), date=str(d["date"]),
        window=str(d.get("window", "")), severity=str(d["severity"]), fix=str(d["fix"]),
        sources=tuple(str(s) for s in d["sources"]), versions=versions,
        last_affected=_vers(a.get("last_affected")), below=_vers(a.get("below")),
        branches=frozenset(str(b) for b in a.get("branches", [])),
        mutable_tags=frozenset(str(t).lower() for t in a.get("mutable_tags", [])),
        all_refs=bool(a.get("all_refs", False)),
        shas=frozenset(str(s).lower() for s in a.get("shas", [])),
        safe=frozenset(str(s) for s in d.get("safe") or ()),
    )


def load_known_bad(path: Path | None = None) -> KnownBad:
    """Load the built-in data file (or `path`)."""
    if path is None:
        text = resources.files("trailhound.cicd").joinpath("data/known_bad.yml").read_text(
            encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    return KnownBad([_entry(d) for d in doc.get("entries", [])])


@cache
def builtin() -> KnownBad:
    """The packaged data, loaded once per process."""
    return load_known_bad()
