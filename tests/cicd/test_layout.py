"""Package boundaries and docs stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from trailhound.cicd import RULES

REPO = Path(__file__).resolve().parents[2]
CICD = REPO / "src" / "trailhound" / "cicd"


def test_cicd_imports_nothing_from_later_stages() -> None:
    bad = re.compile(r"^\s*(?:from|import)\s+trailhound\.(correlate|report|hunt|rules|store)\b",
                     re.M)
    offenders = [p.name for p in CICD.rglob("*.py") if bad.search(p.read_text())]
    assert offenders == []


def test_known_bad_data_dir_holds_data_only() -> None:
    assert {p.suffix for p in (CICD / "data").iterdir() if p.is_file()} == {".yml"}


def test_every_rule_is_documented() -> None:
    doc = (REPO / "docs" / "audit-ci.md").read_text()
    missing = [r for r in RULES if f"`{r}`" not in doc]
    assert missing == []
