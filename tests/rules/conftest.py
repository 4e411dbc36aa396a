"""Session fixtures for the rule tests: loading compiles every rule, so it happens once."""

from __future__ import annotations

import pytest

from trailhound.rules import load_rules
from trailhound.rules.model import RuleSet


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def builtin_rules() -> RuleSet:
    return load_rules(include_sigma=False)
