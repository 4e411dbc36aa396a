"""Load rule files: trailhound's own kinds and Sigma rules, told apart by content.

Loading never stops at the first bad file. Every file that cannot become a runnable rule is
listed in `RuleSet.skipped` with its reason (a bad rule is missed evidence, so the CLI shows
each one), and every problem of an own rule file is reported, not just the first.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from trailhound.errors import RuleError
from trailhound.rules.durations import seconds
from trailhound.rules.kinds import KIND_MODULES
from trailhound.rules.model import (
    DEFAULT_WINDOW_SECONDS,
    GROUP_BY,
    KINDS,
    LEVELS,
    STAGE_OF_TACTIC,
    STAGES,
    STATUSES,
    Rule,
    RuleSet,
)

_TECH_RE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{2,80}$")
_SIGMA_ENV = "TRAILHOUND_SIGMA_RULES"


def builtin_dir() -> Path:
    return Path(str(resources.files("trailhound.rules").joinpath("builtin")))


def bundled_sigma_dir() -> Path:
    """SigmaHQ's AWS CloudTrail rules, shipped inside the package as published (see
    `sigmahq/SOURCE.md` for the upstream commit and how to refresh them)."""
    return Path(str(resources.files("trailhound.rules").joinpath("sigmahq", "cloudtrail")))


def default_sigma_dirs() -> list[Path]:
    """The SigmaHQ rule folders to load: `$TRAILHOUND_SIGMA_RULES` (paths separated by the OS
    path separator) when set, replacing the bundled set - e.g. a newer SigmaHQ checkout - else
    the bundled set. Nothing is looked for implicitly in the current or a parent folder: a
    folder someone else can create must never decide which rules run."""
    env = os.environ.get(_SIGMA_ENV)
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [bundled_sigma_dir()]


def techniques_of(tags: list[str]) -> tuple[str, ...]:
    out = []
    for t in tags:
        m = _TECH_RE.match(t.lower())
        if m:
            out.append(m.group(1).upper())
    return tuple(dict.fromkeys(out))


def stage_of(tags: list[str]) -> str | None:
    for t in tags:
        if t.lower().startswith("attack."):
            stage = STAGE_OF_TACTIC.get(t.lower()[7:])
            if stage:
                return stage
    return None


def _files(paths: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yml", ".yaml")))
        elif p.is_file():
            files.append(p)
        else:
            missing.append((str(p), "no such file or folder"))
    return files, missing


def load_rules(paths: list[Path] | None = None, *, include_sigma: bool = True,
               overrides: Path | None = None, include_builtin: bool = True) -> RuleSet:
    """Built-in rules, the SigmaHQ AWS rules (bundled, or `$TRAILHOUND_SIGMA_RULES`) and the
    extra `paths`.

    Raises `RuleError` only for unusable overrides; bad rule files end in `skipped`."""
    from trailhound.rules.overrides import apply_overrides, default_tuning, read_overrides

    rules: list[Rule] = []
    skipped: list[tuple[str, str]] = []
    sources: list[tuple[str, list[Path]]] = []
    if include_builtin:
        sources.append(("builtin", [builtin_dir()]))
    if include_sigma:
        sources.append(("sigmahq", default_sigma_dirs()))
    if paths:
        sources.append(("extra", [Path(p) for p in paths]))
    for origin, dirs in sources:
        files, missing = _files(dirs)
        skipped.extend(missing)
        for f in files:
            got, bad = load_file(f, origin=origin)
            rules.extend(got)
            skipped.extend(bad)
    seen: dict[str, Rule] = {}
    unique: list[Rule] = []
    for r in rules:
        if r.id in seen:
            skipped.append((r.id, f"duplicate rule id (also in {seen[r.id].path}); "
                                  f"kept the first, skipped {r.path}"))
            continue
        seen[r.id] = r
        unique.append(r)
    tuning = default_tuning() if include_sigma else {}
    if overrides is not None:
        tuning = {**tuning, **read_overrides(overrides)}
    final, notes = apply_overrides(unique, tuning)
    skipped.extend(notes)
    return RuleSet(rules=tuple(final), skipped=tuple(skipped))


def load_file(path: Path, *, origin: str = "extra") -> tuple[list[Rule], list[tuple[str, str]]]:
    """Rules in one file, and (file, reason) for what could not be loaded."""
    loc = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, UnicodeDecodeError) as e:
        return [], [(loc, f"cannot read: {e}")]
    except yaml.YAMLError as e:
        return [], [(loc, f"not YAML: {e}")]
    if len(docs) == 1 and isinstance(docs[0], dict) and "kind" in docs[0]:
        try:
            return [parse_own(docs[0], path=path, origin=origin)], []
        except RuleError as e:
            return [], [(loc, str(e.message))]
    if docs and all(isinstance(d, dict) for d in docs) and any(
            "detection" in d or "correlation" in d or "action" in d for d in docs):
        return load_sigma_text(text, path=path, origin=origin)
    return [], [(loc, "not a rule: no `kind` (trailhound rule) and no `detection` (Sigma)")]


def load_sigma_text(text: str, *, path: Path, origin: str
                    ) -> tuple[list[Rule], list[tuple[str, str]]]:
    loc = str(path)
    try:
        coll = SigmaCollection.from_yaml(text, collect_errors=True)
    except SigmaError as e:
        return [], [(loc, f"Sigma: {e}")]
    rules: list[Rule] = []
    bad: list[tuple[str, str]] = []
    many = len(coll.rules) > 1
    for i, sr in enumerate(coll.rules):
        where = f"{loc}#{i + 1}" if many else loc
        if isinstance(sr, SigmaCorrelationRule):
            bad.append((where, "Sigma correlation rules are not supported; "
                               "write a threshold or sequence rule"))
            continue
        if sr.errors:
            bad.append((where, "Sigma: " + "; ".join(str(e) for e in sr.errors)))
            continue
        try:
            rules.append(sigma_rule(sr, path=path, origin=origin,
                                    rule_id=path.stem + (f"#{i + 1}" if many else "")))
        except RuleError as e:
            bad.append((where, e.message))
    return rules, bad


def sigma_rule(sr: SigmaRule, *, path: Path | None, origin: str, rule_id: str) -> Rule:
    """A published Sigma rule as a trailhound Rule (id = its file name, as users know it)."""
    from trailhound.rules.detection import sigma_where

    ls = sr.logsource
    if (ls.product or "").lower() != "aws" or (ls.service or "cloudtrail").lower() != "cloudtrail":
        raise RuleError(f"logsource {ls.product}/{ls.service} is not AWS CloudTrail")
    where, fields = sigma_where(sr)
    tags = [str(t) for t in sr.tags]
    level = sr.level.name.lower() if sr.level else "medium"
    return Rule(
        id=rule_id, title=sr.title, kind="sigma", level=level,
        status=sr.status.name.lower() if sr.status else "experimental",
        stage=stage_of(tags), techniques=techniques_of(tags), tags=tuple(tags),
        description=sr.description or "", fields=tuple(sr.fields or ()),
        falsepositives=tuple(sr.falsepositives or ()), path=path, origin=origin,
        author=str(sr.author or ""),
        spec={"_where": where, "_fields": sorted(fields), "sigma_id": str(sr.id or "")},
        sigma=sr,
    )


_OWN_KEYS = {"id", "title", "kind", "level", "status", "stage", "tags", "description", "fields",
             "falsepositives", "references", "author", "date", "modified", "tests", "group",
             "detection", "new_terms", "threshold", "sequence", "notes", "fixtures"}


def parse_own(doc: dict[str, Any], *, path: Path | None, origin: str) -> Rule:
    """An own-kind rule file -> Rule, with every problem of the file in one RuleError."""
    loc = str(path) if path else None
    errors: list[str] = []
    rid = doc.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        errors.append("id: required, lower-case letters, digits, _ and -")
    for key in ("title", "description"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            errors.append(f"{key}: required text")
    kind = doc.get("kind")
    if kind not in KINDS:
        errors.append(f"kind: one of {', '.join(KINDS)}")
    level = doc.get("level")
    if level not in LEVELS:
        errors.append(f"level: one of {', '.join(LEVELS)}")
    status = doc.get("status", "experimental")
    if status not in STATUSES:
        errors.append(f"status: one of {', '.join(STATUSES)}")
    stage = doc.get("stage")
    if stage is not None and stage not in STAGES:
        errors.append(f"stage: one of {', '.join(STAGES)} (or absent)")
    tags = doc.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors.append("tags: list of text")
        tags = []
    unknown = set(doc) - _OWN_KEYS
    if unknown:
        errors.append(f"unknown keys: {', '.join(sorted(unknown))}")
    group = doc.get("group") or {}
    window = DEFAULT_WINDOW_SECONDS
    group_by = "key"
    if not isinstance(group, dict):
        errors.append("group: mapping with `by` and `window`")
    else:
        group_by = group.get("by", "key")
        if group_by not in GROUP_BY:
            errors.append(f"group.by: one of {', '.join(GROUP_BY)}")
        if "window" in group:
            try:
                window = seconds(group["window"], what="group.window")
            except RuleError as e:
                errors.append(e.message)
    tests = doc.get("tests")
    pos: list[dict[str, Any]] = []
    neg: list[dict[str, Any]] = []
    if not isinstance(tests, dict):
        errors.append("tests: required mapping with `positive` and `negative` event lists")
    else:
        pos, neg = tests.get("positive") or [], tests.get("negative") or []
        if not isinstance(pos, list) or not pos or not all(isinstance(x, dict) for x in pos):
            errors.append("tests.positive: at least one CloudTrail record")
            pos = []
        if not isinstance(neg, list) or not neg or not all(isinstance(x, dict) for x in neg):
            errors.append("tests.negative: at least one CloudTrail record")
            neg = []
    spec: dict[str, Any] = {}
    if kind in KINDS:
        spec = {k: doc[k] for k in ("detection", "new_terms", "threshold", "sequence") if k in doc}
        errors.extend(KIND_MODULES[kind].validate(spec))
        if kind == "sigma" and not errors:
            from trailhound.rules.detection import detection_where

            spec["_where"] = detection_where(doc["detection"], what="detection")
    if errors:
        raise RuleError("; ".join(errors), location=loc)
    fields = doc.get("fields") or []
    return Rule(
        id=rid, title=doc["title"].strip(), kind=kind, level=level, status=status,
        stage=stage, techniques=techniques_of(tags), tags=tuple(tags),
        description=doc["description"].strip(), fields=tuple(str(f) for f in fields),
        falsepositives=tuple(str(f) for f in doc.get("falsepositives") or ()),
        path=path, origin=origin, spec=spec, positive=tuple(pos), negative=tuple(neg),
        window_seconds=window, group_by=group_by, author=str(doc.get("author") or ""),
    )

