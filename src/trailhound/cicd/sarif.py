"""SARIF 2.1.0 that GitHub code scanning accepts.

GitHub reads `tool.driver.rules[]` (id, shortDescription, fullDescription, help,
`properties.security-severity` as a string number, `properties.tags` with `security`),
`results[]` (`ruleId`, `ruleIndex`, `level`, `message.text`, one physical location with a
repository-relative `artifactLocation.uri` and `region.startLine`) and uses
`partialFingerprints` to follow a result across commits. Files that could not be audited
become `toolExecutionNotifications` so the upload still says what was skipped.
"""

from __future__ import annotations

import hashlib
from typing import Any

from trailhound import __version__
from trailhound.cicd.checks.rules import RULES
from trailhound.cicd.model import AuditResult

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
INFO_URI = "https://github.com/trailhound/trailhound/blob/main/docs/audit-ci.md"


def _rule(rid: str) -> dict[str, Any]:
    r = RULES[rid]
    return {
        "id": r.id,
        "name": "".join(w.capitalize() for w in r.id.split("-")),
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.why},
        "help": {"text": f"{r.why}\n\nFix: {r.fix}",
                 "markdown": f"{r.why}\n\n**Fix:** {r.fix}"},
        "helpUri": f"{INFO_URI}#{r.id}",
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {"security-severity": SECURITY_SEVERITY[r.severity],
                       "tags": ["security", "supply-chain", "ci-cd"],
                       "precision": "high", "problem.severity": LEVEL[r.severity]},
    }


def to_sarif(result: AuditResult) -> dict[str, Any]:
    ids = list(RULES)
    index = {rid: i for i, rid in enumerate(ids)}
    results = []
    for f in result.findings:
        fp = hashlib.sha256(f"{f.rule_id}|{f.path}|{f.job}|{f.message}".encode()).hexdigest()
        results.append({
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": LEVEL[f.severity],
            "message": {"text": f"{f.message}\nFix: {f.fix}"},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": f.line, "startColumn": max(1, f.column)},
            }}],
            "partialFingerprints": {"trailhoundFinding/v1": fp[:32]},
            "properties": {"security-severity": SECURITY_SEVERITY[f.severity],
                           "severity": f.severity, **({"job": f.job} if f.job else {})},
        })
    notes = [{"level": "warning", "message": {"text": f"{e.path}: {e.reason}"},
              "locations": [{"physicalLocation": {"artifactLocation": {"uri": e.path}}}]}
             for e in result.errors]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "trailhound", "version": __version__,
                                "semanticVersion": __version__, "informationUri": INFO_URI,
                                "rules": [_rule(r) for r in ids]}},
            "invocations": [{"executionSuccessful": True,
                             "toolExecutionNotifications": notes}],
            "originalUriBaseIds": {"%SRCROOT%": {"description": {
                "text": "The folder audit-ci was given."}}},
            "results": results,
        }],
    }
