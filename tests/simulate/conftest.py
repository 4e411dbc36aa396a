"""Small simulated corpora, made once per test session, and a reader for their records."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhound.simulate import generate

SMALL = {"days": 1, "events_per_day": 4000, "seed": 7}


def read_records(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, record) for every delivered record, duplicates included, digests skipped."""
    for f in sorted((root / "AWSLogs").rglob("*.json.gz")):
        if "CloudTrail-Digest" in f.as_posix():
            continue
        for r in orjson.loads(gzip.decompress(f.read_bytes()))["Records"]:
            yield f.relative_to(root).as_posix(), r


def distinct(root: Path) -> dict[str, dict[str, Any]]:
    return {r["eventID"]: r for _, r in read_records(root)}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    """corpus(scenario) -> (folder, truth), generated once per scenario."""
    made: dict[str, tuple[Path, Any]] = {}

    def get(scenario: str) -> tuple[Path, Any]:
        if scenario not in made:
            out = tmp_path_factory.mktemp(f"sim-{scenario}")
            truth = generate(out, scenario=scenario, workers=2, **SMALL)
            made[scenario] = (out, truth)
        return made[scenario]

    return get
