"""hunt on the simulator's scenarios, scored against its truth.

The simulator is not the judge (corpora built independently are), so these tests pin the
contract's bar on data we can see: the attack as one high/critical incident with exactly the
compromised keys, principals and attacker IPs, exact bytes and objects per bucket; no
high/critical incident on benign corpora.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from evaluate import score
from trailhound.hunt import hunt
from trailhound.simulate import generate

SIZE = {"days": 5, "events_per_day": 3000}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    cache: dict[tuple[str, int], Path] = {}

    def get(scenario: str, seed: int) -> Path:
        if (scenario, seed) not in cache:
            d = tmp_path_factory.mktemp(f"{scenario}-{seed}")
            generate(d / "sim", scenario=scenario, seed=seed, **SIZE)
            cache[(scenario, seed)] = d
        return cache[(scenario, seed)]

    return get


def hunt_and_score(base: Path) -> dict:
    sim = base / "sim"
    tenants = json.loads((sim / "tenants.json").read_text())
    hunt([str(sim / "AWSLogs")], base / "out", tenants=tenants)
    return score(base / "out", json.loads((sim / "truth.json").read_text()))


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "seed"), [("full", 1), ("full", 2), ("quiet", 1)])
def test_attack_found_exactly(corpora, scenario, seed):
    row = hunt_and_score(corpora(scenario, seed))
    assert row.get("missed") is None, row
    assert row["ok"], row
    assert row["events_r"] == 1.0, row


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "seed"), [("benign", 1), ("none", 2)])
def test_benign_has_no_high_incident(corpora, scenario, seed):
    row = hunt_and_score(corpora(scenario, seed))
    assert row["high_or_critical"] == 0, row
