"""Where a Sigma field name lives in the store: a column, a derived expression, or a JSON path.

The mapping is data (`mappings/cloudtrail.yml`) held in a frozen `FieldMap`; two maps compose
with `+` (the right side wins), so a site can add its own fields without touching ours. The
backend asks `FieldMap.sql(field)` for every field a rule names and never sees a raw name, so
a rule cannot inject SQL through a field name either: names outside a safe alphabet are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trailhound.errors import RuleError
from trailhound.normalize import COLUMNS, PARTITION_COLUMNS

_FIELD_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
_KNOWN_COLUMNS = {c.name: c.sql_type for c in (*COLUMNS, *PARTITION_COLUMNS)}


def json_path(parts: list[str]) -> str:
    """A JSON path with every key quoted: `$."a"."b"`. Keys come from the safe alphabet."""
    return "$" + "".join(f'."{p}"' for p in parts)


@dataclass(frozen=True)
class FieldMap:
    """Sigma field names -> SQL expressions over the `events` view."""

    columns: dict[str, str] = field(default_factory=dict)
    json_roots: dict[str, str] = field(default_factory=dict)
    expressions: dict[str, str] = field(default_factory=dict)
    logsource: dict[str, str] = field(default_factory=dict)
    fallback: str = "raw"

    def __add__(self, other: FieldMap) -> FieldMap:
        return FieldMap(
            columns={**self.columns, **other.columns},
            json_roots={**self.json_roots, **other.json_roots},
            expressions={**self.expressions, **other.expressions},
            logsource={**self.logsource, **other.logsource},
            fallback=other.fallback or self.fallback,
        )

    @classmethod
    def from_yaml(cls, text: str, *, location: str | None = None) -> FieldMap:
        try:
            doc: Any = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise RuleError(f"field mapping is not YAML: {e}", location=location) from None
        if not isinstance(doc, dict):
            raise RuleError("field mapping must be a mapping", location=location)
        fm = cls(
            columns=dict(doc.get("columns") or {}),
            json_roots=dict(doc.get("json_roots") or {}),
            expressions=dict(doc.get("expressions") or {}),
            logsource=dict(doc.get("logsource") or {}),
            fallback=str(doc.get("fallback") or "raw"),
        )
        for name, col in [*fm.columns.items(), *fm.json_roots.items(),
                          ("(fallback)", fm.fallback)]:
            if col not in _KNOWN_COLUMNS:
                raise RuleError(f"field {name!r} maps to unknown column {col!r}",
                                location=location)
        return fm

    @classmethod
    def from_file(cls, path: Path) -> FieldMap:
        return cls.from_yaml(path.read_text(encoding="utf-8"), location=str(path))

    def lookup(self, name: str) -> tuple[str, str]:
        """(how, sql) for a Sigma field: how is expression | column | json | raw."""
        if not _FIELD_RE.match(name):
            raise RuleError(f"field name {name!r} has characters no CloudTrail field has")
        for key in (name, _ci(self.expressions, name)):
            if key in self.expressions:
                return "expression", f"({self.expressions[key]})"
        for key in (name, _ci(self.columns, name)):
            if key in self.columns:
                return "column", self.columns[key]
        parts = name.split(".")
        for n in range(len(parts) - 1, 0, -1):
            root = ".".join(parts[:n])
            if root in self.json_roots:
                return "json", (f"json_extract_string({self.json_roots[root]}, "
                                f"'{json_path(parts[n:])}')")
        return "raw", f"json_extract_string({self.fallback}, '{json_path(parts)}')"

    def sql(self, name: str) -> str:
        return self.lookup(name)[1]

    def is_text(self, name: str) -> bool:
        """False for typed columns (booleans, numbers, timestamps) that need a cast to text."""
        how, sql = self.lookup(name)
        if how == "column":
            return _KNOWN_COLUMNS.get(sql) == "VARCHAR"
        return how != "expression"  # derived values may be booleans or numbers

    def is_field_name(self, value: str) -> bool:
        """Whether a rule *value* looks like one of our field names (a lint check)."""
        if not _FIELD_RE.match(value) or "." not in value:
            return False
        root = value.split(".")[0]
        known_roots = {k.split(".")[0] for k in (*self.columns, *self.expressions,
                                                 *self.json_roots)}
        return root in known_roots


def _ci(d: dict[str, str], name: str) -> str:
    low = name.lower()
    for k in d:
        if k.lower() == low:
            return k
    return name


def cloudtrail_field_map() -> FieldMap:
    """The field map shipped with trailhound."""
    text = resources.files("trailhound.rules").joinpath("mappings/cloudtrail.yml").read_text(
        encoding="utf-8")
    return FieldMap.from_yaml(text, location="mappings/cloudtrail.yml")

