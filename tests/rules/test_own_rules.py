"""Every built-in rule: its own positive and negative events through DuckDB, and its metadata."""

from __future__ import annotations

import pytest

from trailhound.rules import load_rules
from trailhound.rules.lint import lint_rules
from trailhound.rules.loader import parse_own
from trailhound.rules.model import STAGES, RuleSet
from trailhound.rules.selftest import run_rule_tests

BUILTIN = load_rules(include_sigma=False)
REFERENCE_STAGES = {"credential-validation", "persistence", "discovery", "lateral-movement",
                    "collection", "exfiltration", "defense-evasion", "privilege-escalation"}


def test_builtin_rules_all_load():
    assert not BUILTIN.skipped, BUILTIN.skipped
    assert len(BUILTIN.rules) >= 20


@pytest.mark.parametrize("rule", BUILTIN.rules, ids=lambda r: r.id)
def test_rule_on_its_own_events(rule):
    outcome = run_rule_tests(rule)
    assert outcome.positives >= 1 and outcome.negatives >= 1
    assert outcome.ok, outcome.failures


@pytest.mark.parametrize("rule", BUILTIN.rules, ids=lambda r: r.id)
def test_rule_metadata(rule):
    assert rule.stage in STAGES
    assert rule.techniques, "ATT&CK technique tags"
    assert rule.path is not None and rule.path.stem == rule.id
    issues = [i for i in lint_rules(RuleSet((rule,))) if i.severity == "error"]
    assert not issues, issues


def test_every_reference_stage_is_covered():
    assert {r.stage for r in BUILTIN.rules} >= REFERENCE_STAGES


def test_only_strong_signals_are_high():
    """Single weak signals stay low/medium; high is for tampering with logging/detection,
    leaving the organisation, and the multi-step chain."""
    high = {r.id for r in BUILTIN.rules if r.level in ("high", "critical")}
    assert high == {"persistence_stolen_key_chain", "defense_evasion_cloudtrail_stopped_or_deleted",
                    "defense_evasion_guardduty_or_securityhub_disabled",
                    "defense_evasion_leave_organization"}


def test_loader_reports_every_problem_of_a_file(tmp_path):
    from trailhound.errors import RuleError

    with pytest.raises(RuleError) as e:
        parse_own({"id": "Bad Id", "kind": "magic", "level": "severe", "tags": "x"},
                  path=tmp_path / "x.yml", origin="extra")
    msg = str(e.value)
    for part in ("id:", "title:", "kind:", "level:", "tags:", "tests:"):
        assert part in msg


def test_extra_rule_folder_mixes_kinds_and_lists_skips(tmp_path):
    (tmp_path / "mine.yml").write_text(
        "id: my_rule\ntitle: t\nkind: sigma\nlevel: low\nstage: discovery\n"
        "description: enough words here\ntags: [attack.t1580]\n"
        "detection: {eventName: ListBuckets}\n"
        "tests: {positive: [{eventName: ListBuckets}], negative: [{eventName: GetObject}]}\n")
    (tmp_path / "sig.yml").write_text(
        "title: s\nlogsource: {product: aws, service: cloudtrail}\n"
        "detection: {sel: {eventName: DeleteBucket}, condition: sel}\nlevel: low\n")
    (tmp_path / "win.yml").write_text(
        "title: w\nlogsource: {product: windows, service: security}\n"
        "detection: {sel: {EventID: 4624}, condition: sel}\n")
    (tmp_path / "junk.yml").write_text("just: data\n")
    rs = load_rules([tmp_path], include_sigma=False, include_builtin=False)
    assert sorted(r.id for r in rs.rules) == ["my_rule", "sig"]
    reasons = dict(rs.skipped)
    assert "not AWS CloudTrail" in reasons[str(tmp_path / "win.yml")]
    assert "not a rule" in reasons[str(tmp_path / "junk.yml")]
