"""All 57 SigmaHQ AWS CloudTrail rules load unchanged, compile to one query each, run, fire
on a hand-made positive event and stay quiet on its nearest benign look-alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rules.rulehelp import SIGMA_DIR, run_rule
from trailhound.rules.loader import load_file

CASES = yaml.safe_load((Path(__file__).parent / "sigma_cases" / "cases.yml").read_text())
SIGMA_FILES = sorted(SIGMA_DIR.glob("*.yml"))

pytestmark = pytest.mark.skipif(not SIGMA_FILES, reason="SigmaHQ rules not checked out")


def _record(case: dict) -> dict:
    return {**CASES["base"], **case}


def test_all_57_load_without_skips(ruleset):
    sigma = [r for r in ruleset.rules if r.origin == "sigmahq"]
    assert len(SIGMA_FILES) == 57
    assert len(sigma) == 57, [s for s in ruleset.skipped]
    assert not [s for s in ruleset.skipped if "sigmahq" in s[0]]


def test_every_rule_has_a_case():
    assert sorted(CASES["cases"]) == sorted(p.stem for p in SIGMA_FILES)


@pytest.mark.parametrize("path", SIGMA_FILES, ids=lambda p: p.stem)
def test_positive_fires_negative_does_not(path):
    rules, bad = load_file(path, origin="sigmahq")
    assert not bad and len(rules) == 1
    rule = rules[0]
    case = CASES["cases"][path.stem]
    pos = _record(case["positive"])
    neg = _record(case["negative"])
    assert run_rule(rule, [pos]), f"{path.stem}: positive did not fire\n{rule.spec['_where']}"
    assert not run_rule(rule, [neg]), f"{path.stem}: negative fired\n{rule.spec['_where']}"


def test_files_unchanged_by_loading():
    """Loading reads rules; it never rewrites them (they must stay as published)."""
    before = {p: p.read_bytes() for p in SIGMA_FILES}
    for p in SIGMA_FILES:
        load_file(p, origin="sigmahq")
    assert before == {p: p.read_bytes() for p in SIGMA_FILES}
