"""Fixtures: a small simulated incident (cached per session) and moto's IAM server on
loopback, reset for every test and acting as the incident's account (see `moto_iam.py`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from aws_test_env import isolate_aws_env, reset_moto, running_moto

# The size and seed the correlation tests hold the hunt to (tests/correlate/test_scenarios.py),
# so the incident this suite contains is one the hunt is known to find.
SIM = {"scenario": "full", "days": 5, "events_per_day": 3000, "seed": 1}


@dataclass
class Corpus:
    store: Path  # pristine: copy it before writing an action log
    out: Path
    truth: dict[str, Any]
    incident: dict[str, Any]
    ci_user: str  # owner of the stolen key (from the logs, not from respond)
    created_key: str  # the key the attacker created
    target_user: str  # the user the attacker created it for


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    from trailhound.hunt import hunt, load_incidents
    from trailhound.simulate import generate

    base = tmp_path_factory.mktemp("respond-corpus")
    generate(base / "sim", workers=1, **SIM)  # type: ignore[arg-type]
    truth = orjson.loads((base / "sim" / "truth.json").read_bytes())
    hunt([str(base / "sim" / "AWSLogs")], base / "out", store=base / "store")
    doc = load_incidents(base / "store")
    root = truth["attack"]["root_access_key"]
    found = [i for i in doc["incidents"] if i["root_access_key"] == root]
    if not found:
        pytest.fail(f"the hunt found no incident rooted at the stolen key {root} in {SIM}; "
                    f"incidents: {[i['root_access_key'] for i in doc['incidents']]}")
    inc = found[0]
    created = next(k for k in truth["attack"]["access_keys"] if k.startswith("AKIA")
                   and k != root)
    from trailhound.store.engine import Store

    conn = Store(base / "store").connect()
    (ci_user,) = conn.execute("SELECT any_value(user_name) FROM events WHERE access_key_id = ?",
                              [root]).fetchone()
    (target,) = conn.execute("SELECT any_value(target_user) FROM events WHERE "
                             "created_access_key_id = ?", [created]).fetchone()
    conn.close()
    return Corpus(base / "store", base / "out", truth, inc, ci_user, created, target)


@pytest.fixture
def store(corpus: Corpus, tmp_path: Path) -> Path:
    """A private copy of the corpus store (each test writes its own action log)."""
    dst = tmp_path / "store"
    shutil.copytree(corpus.store, dst)
    return dst


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with running_moto() as url:
        yield url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_url: str,
            corpus: Corpus) -> str:
    """Dummy credentials, no user AWS config, moto reset and acting as the incident's account."""
    isolate_aws_env(monkeypatch, tmp_path, region="eu-west-1")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", corpus.incident["accounts"][0])
    reset_moto(moto_url)
    return moto_url


