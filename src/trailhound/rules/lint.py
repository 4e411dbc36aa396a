"""`rules lint`: checks of rule metadata and of detection logic that compiles but cannot work.

Each check is a small function returning typed issues (pySigma's validator habit). Sigma rules
also go through pySigma's own validators. Severity `error` means the rule is wrong or unusable
(and fails CI); `warning` means it probably does not do what its title says; `info` is advice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sigma.types import SigmaFieldReference, SigmaString
from sigma.validation import SigmaValidator
from sigma.validators.core import validators as core_validators

from trailhound.rules.detection import default_field_map
from trailhound.rules.model import STAGES, Rule, RuleSet

# Tactic prefixes a built-in rule file name may start with (STYLE.md: <tactic>_<what>.yml).
TACTIC_PREFIXES = (
    "credential_access", "initial_access", "discovery", "persistence", "privilege_escalation",
    "lateral_movement", "collection", "exfiltration", "defense_evasion", "impact", "execution",
)
# pySigma checks that concern SigmaHQ's repository housekeeping, not detection, and the two
# that download MITRE data at run time (detection must work offline, in an incident room).
_SKIP_VALIDATORS = {"filename_length", "duplicate_filename", "custom_attributes",
                    "attacktag", "d3_fendtag"}
_ARN_FIELDS = {"userIdentity.arn", "userIdentity.sessionContext.sessionIssuer.arn"}


@dataclass(frozen=True)
class LintIssue:
    rule_id: str
    severity: str  # error | warning | info
    check: str
    message: str
    location: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "severity": self.severity, "check": self.check,
                "message": self.message, "location": self.location}


Check = Callable[[Rule], Iterator[LintIssue]]


def _issue(rule: Rule, severity: str, check: str, message: str) -> LintIssue:
    return LintIssue(rule.id, severity, check, message, str(rule.path) if rule.path else None)


def _detection_items(rule: Rule) -> Iterator[Any]:
    sr = rule.sigma
    if sr is None:
        return
    for det in sr.detection.detections.values():
        yield from _walk(det)


def _walk(det: Any) -> Iterator[Any]:
    for item in getattr(det, "detection_items", []):
        if hasattr(item, "detection_items"):
            yield from _walk(item)
        else:
            yield item


def check_value_is_field_name(rule: Rule) -> Iterator[LintIssue]:
    """A value that names a field is compared as literal text: SigmaHQ's
    aws_iam_backdoor_users_keys compares userIdentity.arn with the *string*
    'responseElements.accessKey.userName', so its filter never matches and it fires on every
    CreateAccessKey. The fix is `|fieldref`, or trailhound's own rule for that stage."""
    fm = default_field_map()
    for item in _detection_items(rule):
        for v in item.value:
            if isinstance(v, SigmaString):
                plain = "".join(p for p in v.s if isinstance(p, str))
                if fm.is_field_name(plain):
                    yield _issue(rule, "warning", "value-is-field-name",
                                 f"{item.field}: value {plain!r} is a field name compared as "
                                 "text; did you mean `|fieldref`?")


def check_fieldref_arn_vs_name(rule: Rule) -> Iterator[LintIssue]:
    """An ARN never equals a bare user name: `userIdentity.arn|fieldref: requestParameters.
    userName` is always unequal, so `not` of it is always true."""
    for item in _detection_items(rule):
        for v in item.value:
            if isinstance(v, SigmaFieldReference) and not (v.starts_with or v.ends_with) and \
                    (item.field in _ARN_FIELDS) != (v.field in _ARN_FIELDS):
                yield _issue(rule, "warning", "fieldref-arn-vs-name",
                             f"{item.field} = {v.field}: an ARN is compared with a name; "
                             "they are never equal (use |fieldref|endswith)")


def check_unknown_fields(rule: Rule) -> Iterator[LintIssue]:
    """Fields the mapping does not know are read from the raw record (correct but slow), and
    are often typos or fields of another log source."""
    fm = default_field_map()
    for f in rule.spec.get("_fields", []):
        how, _ = fm.lookup(f)
        if how == "raw":
            yield _issue(rule, "info", "unmapped-field",
                         f"field {f!r} is not in the CloudTrail mapping; read from raw JSON")
        if f == "status":
            yield _issue(rule, "info", "non-cloudtrail-field",
                         "CloudTrail has no `status`; mapped to errorCode absent = success")


def check_metadata(rule: Rule) -> Iterator[LintIssue]:
    if not rule.techniques:
        yield _issue(rule, "warning" if rule.origin != "builtin" else "error", "attack-tags",
                     "no ATT&CK technique tag (attack.tNNNN)")
    if rule.origin == "builtin":
        if rule.stage not in STAGES:
            yield _issue(rule, "error", "stage", "built-in rules name their stage")
        if rule.path is not None:
            if rule.path.stem != rule.id:
                yield _issue(rule, "error", "file-name", f"file {rule.path.name} != id {rule.id}")
            if not rule.id.startswith(TACTIC_PREFIXES):
                yield _issue(rule, "error", "file-name",
                             "file name must start with its tactic (<tactic>_<what>.yml)")
        if len(rule.description) < 80:
            yield _issue(rule, "error", "triage-notes",
                         "description must carry triage notes (what to check, false positives)")
        if not re.search(r"(?i)triage|check|verify|confirm", rule.description):
            yield _issue(rule, "warning", "triage-notes", "description gives no triage step")
    if (rule.kind != "sigma" or rule.sigma is None) and (not rule.positive
                                                          or not rule.negative):
        yield _issue(rule, "error", "tests", "needs positive and negative test events")


CHECKS: tuple[Check, ...] = (check_metadata, check_value_is_field_name,
                             check_fieldref_arn_vs_name, check_unknown_fields)


def lint_rules(ruleset: RuleSet) -> list[LintIssue]:
    issues: list[LintIssue] = []
    for rid, reason in ruleset.skipped:
        issues.append(LintIssue(rid, "error", "load", reason))
    validator = SigmaValidator(
        [v for k, v in core_validators.items() if k not in _SKIP_VALIDATORS])
    for rule in ruleset.rules:
        for check in CHECKS:
            issues.extend(check(rule))
        if rule.sigma is not None:
            for vi in validator.validate_rule(rule.sigma):
                issues.append(_issue(rule, _sev(vi), type(vi).__name__.removesuffix("Issue"),
                                     getattr(vi, "description", str(vi))))
    return issues


def _sev(vi: Any) -> str:
    name = str(getattr(getattr(vi, "severity", None), "name", "LOW")).lower()
    return {"high": "warning", "medium": "warning"}.get(name, "info")
