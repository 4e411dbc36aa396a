"""A validator for OCSF events against the schema's own source files (not a generated JSON
Schema): resolves the class's `extends` chain and each object's, merges class-level attribute
overrides over the dictionary, and checks required attributes, unknown attributes, types
(with the dictionary's type regexes), enums (`*_id` integers), `is_array`, object constraints
(`at_least_one`, `just_one`), and the classification arithmetic (type_uid, class_uid).

Profiles are applied only when the event lists them in `metadata.profiles`, as the schema
server does. `loaded` records which schema files were read, to keep the vendored set minimal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


class OcsfSchema:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.loaded: set[str] = set()
        self.dictionary = self._load("dictionary.json")
        self.attrs: dict[str, dict[str, Any]] = self.dictionary["attributes"]
        self.types: dict[str, dict[str, Any]] = self.dictionary["types"]["attributes"]
        self.categories = self._load("categories.json")["attributes"]
        self.version = self._load("version.json")["version"]
        self._observable_ids = {int(t["observable"]) for t in self.types.values()
                                if "observable" in t}
        self._observable_ids |= {int(a["observable"]) for a in self.attrs.values()
                                 if "observable" in a}

    def _load(self, rel: str) -> dict[str, Any]:
        self.loaded.add(rel)
        return json.loads((self.root / rel).read_text())

    def _find_event(self, name: str) -> str:
        for p in sorted((self.root / "events").rglob(f"{name}.json")):
            return str(p.relative_to(self.root))
        raise KeyError(f"no event class {name}")

    def _merged(self, rel: str, profiles: set[str]) -> dict[str, Any]:
        """A class or object with its parents' attributes merged in (child wins per key)."""
        doc = self._load(rel)
        parent = doc.get("extends")
        if parent:
            prel = (self._find_event(parent) if rel.startswith("events/")
                    else f"objects/{parent}.json")
            merged = self._merged(prel, profiles)
        else:
            merged = {"attributes": {}, "constraints": {}}
        attrs = dict(merged["attributes"])
        for inc in doc.get("attributes", {}).get("$include", []):
            inc_doc = self._load(inc)
            prof = inc_doc.get("name") if inc_doc.get("meta") == "profile" else None
            if prof and prof not in profiles:
                continue
            for k, v in inc_doc["attributes"].items():
                attrs[k] = {**attrs.get(k, {}), **v}
        for k, v in doc.get("attributes", {}).items():
            if k == "$include":
                continue
            attrs[k] = {**attrs.get(k, {}), **v}
        out = {**{k: v for k, v in merged.items() if k != "attributes"}, **doc,
               "attributes": attrs}
        out["constraints"] = doc.get("constraints", merged.get("constraints", {}))
        return out

    def validate_event(self, event: dict[str, Any], class_name: str) -> list[str]:
        profiles = set((event.get("metadata") or {}).get("profiles") or [])
        cls = self._merged(self._find_event(class_name), profiles)
        errors: list[str] = []
        self._check_object(event, cls, "", errors, profiles)
        cat = self.categories[cls["category"]]["uid"]
        if event.get("category_uid") != cat:
            errors.append(f"category_uid {event.get('category_uid')} != {cat}")
        if event.get("class_uid") != cat * 1000 + cls["uid"]:
            errors.append(f"class_uid {event.get('class_uid')} != {cat * 1000 + cls['uid']}")
        if event.get("type_uid") != event.get("class_uid", 0) * 100 + event.get(
                "activity_id", -1):
            errors.append("type_uid is not class_uid * 100 + activity_id")
        return errors

    def _check_object(self, value: Any, spec: dict[str, Any], path: str, errors: list[str],
                      profiles: set[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{path or '.'}: expected an object")
            return
        attrs = spec["attributes"]
        for name, a in attrs.items():
            if a.get("requirement") == "required" and name not in value:
                errors.append(f"{path}{name}: required attribute missing")
        for name, v in value.items():
            if name not in attrs:
                errors.append(f"{path}{name}: not an attribute of {spec.get('name')}")
                continue
            self._check_attr(name, v, attrs[name], f"{path}{name}", errors, profiles,
                             spec.get("name"))
            a = {**self.attrs.get(name, {}), **attrs[name]}
            sib, enum = a.get("sibling"), a.get("enum")
            if sib and enum and sib in value and str(v) in enum and str(v) != "99" \
                    and value[sib] != enum[str(v)]["caption"]:
                errors.append(f"{path}{sib}: {value[sib]!r} is not the caption of "
                              f"{name} {v} ({enum[str(v)]['caption']!r})")
        cons = spec.get("constraints") or {}
        if "at_least_one" in cons and not any(k in value for k in cons["at_least_one"]):
            errors.append(f"{path or '.'}: needs at least one of {cons['at_least_one']}")
        if "just_one" in cons and sum(k in value for k in cons["just_one"]) != 1:
            errors.append(f"{path or '.'}: needs exactly one of {cons['just_one']}")

    def _check_attr(self, name: str, value: Any, override: dict[str, Any], path: str,
                    errors: list[str], profiles: set[str], owner: str | None) -> None:
        base = self.attrs.get(name)
        if base is None:
            errors.append(f"{path}: not in the dictionary")
            return
        a = {**base, **override}
        if a.get("is_array"):
            if not isinstance(value, list):
                errors.append(f"{path}: expected an array")
                return
            for n, item in enumerate(value):
                self._check_value(name, item, a, f"{path}[{n}]", errors, profiles, owner)
        else:
            if isinstance(value, list):
                errors.append(f"{path}: not an array attribute")
                return
            self._check_value(name, value, a, path, errors, profiles, owner)

    def _check_value(self, name: str, value: Any, a: dict[str, Any], path: str,
                     errors: list[str], profiles: set[str], owner: str | None) -> None:
        t = a["type"]
        if t in self.types or t.endswith("_t"):
            self._check_scalar(value, t, path, errors)
            enum = a.get("enum")
            if name == "type_id" and owner == "observable":
                if value not in self._observable_ids | {0, 99}:
                    errors.append(f"{path}: {value!r} is not an observable type id")
            elif name in ("class_uid", "category_uid"):
                pass  # the schema server fills these enums from the classes; checked below
            elif enum is not None and str(value) not in enum:
                errors.append(f"{path}: {value!r} not in enum {sorted(enum)}")
            return
        obj = self._merged(f"objects/{t}.json", profiles)
        self._check_object(value, obj, path + ".", errors, profiles)

    def _check_scalar(self, value: Any, t: str, path: str, errors: list[str]) -> None:
        spec = self.types.get(t, {})
        base = spec.get("type") or t
        root = base
        while root in self.types and self.types[root].get("type"):
            root = self.types[root]["type"]
        ok = {
            "string_t": lambda x: isinstance(x, str),
            "integer_t": lambda x: isinstance(x, int) and not isinstance(x, bool),
            "long_t": lambda x: isinstance(x, int) and not isinstance(x, bool),
            "float_t": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
            "boolean_t": lambda x: isinstance(x, bool),
            "json_t": lambda x: True,
        }.get(root, lambda x: True)
        if not ok(value):
            errors.append(f"{path}: {value!r} is not {t}")
            return
        regex = spec.get("regex")
        if regex and isinstance(value, str) and not re.search(regex, value):
            errors.append(f"{path}: {value!r} does not match the {t} pattern")
        if t == "integer_t" and not -(2**31) <= value < 2**31:
            errors.append(f"{path}: {value} out of the integer_t range")
