"""Every data file the package reads ships in its wheel.

A file under src/trailhound that is not Python reaches an installed copy (`pipx install`, a
container image) only if `[tool.setuptools.package-data]` names it; an editable install and
the tests never notice a missing one. (The correlation stage map once was missing: every
installed hunt would have failed at correlation.)
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "trailhound"


def test_package_data_covers_every_data_file():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["trailhound"]
    shipped = {p for pat in patterns for p in PKG.glob(pat) if p.is_file()}
    data = {p for p in PKG.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts}
    missing = sorted(str(p.relative_to(PKG)) for p in data - shipped)
    assert not missing, f"add to [tool.setuptools.package-data]: {missing}"
