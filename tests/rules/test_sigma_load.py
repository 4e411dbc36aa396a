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


# --- where the rules come from ---------------------------------------------------------------

_STRAY_RULE = """title: planted
id: 11111111-2222-3333-4444-555555555555
status: test
description: a rule nobody asked for
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventName: GetCallerIdentity}
  condition: selection
level: critical
"""


def test_bundled_with_source_and_licence():
    """The package carries the rules, the DRL text and where they came from."""
    here = SIGMA_DIR.parent
    source = (here / "SOURCE.md").read_text()
    assert "https://github.com/SigmaHQ/sigma" in source
    assert "8eaafff1f2845a696050e05e72ba1140ee190698" in source
    assert "Detection Rule License (DRL) 1.1" in (here / "LICENSE.Detection.Rules.md").read_text()


def test_nothing_is_searched_for_outside_the_package(monkeypatch, tmp_path):
    """A `shared/sigmahq-aws/cloudtrail` folder in the current folder or any parent (the old
    search path) is ignored: only the bundled set, --rules and the environment choose rules."""
    from trailhound.rules import load_rules

    planted = tmp_path / "shared" / "sigmahq-aws" / "cloudtrail"
    planted.mkdir(parents=True)
    (planted / "planted.yml").write_text(_STRAY_RULE)
    work = tmp_path / "work" / "deeper"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("TRAILHOUND_SIGMA_RULES", raising=False)
    monkeypatch.delenv("TRAILHOUND_RULES", raising=False)
    rs = load_rules()
    assert rs.get("planted") is None
    assert {r.id for r in rs.rules if r.origin == "sigmahq"} == {p.stem for p in SIGMA_FILES}
    # the shipped tuning names only rules that exist: nothing to warn about
    assert not rs.skipped


def test_user_rule_folders_from_the_environment(monkeypatch, tmp_path, cli):
    import json
    import os

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "planted.yml").write_text(_STRAY_RULE)
    (b / "other.yml").write_text(_STRAY_RULE.replace("1111", "9999"))
    monkeypatch.setenv("TRAILHOUND_RULES", f"{a}{os.pathsep}{b}")
    code, out, err = cli("rules", "list", "--format", "json")
    assert code == 0, err
    got = {r["id"]: r["origin"] for r in json.loads(out)["rules"]}
    assert got["planted"] == got["other"] == "extra"
    assert sum(o == "sigmahq" for o in got.values()) == len(SIGMA_FILES)
    monkeypatch.setenv("TRAILHOUND_RULES", str(tmp_path / "missing"))
    code, _, err = cli("rules", "list")
    assert code == 2 and "no such file or folder" in err
