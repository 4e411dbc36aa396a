"""Fixtures: a small simulated incident (cached per session) and moto's IAM server on
loopback, reset for every test and acting as the incident's account (see `moto_iam.py`)."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

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
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_url: str,
            corpus: Corpus) -> str:
    """Dummy credentials, no user AWS config, moto reset and acting as the incident's account."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("MOTO_ACCOUNT_ID", corpus.incident["accounts"][0])
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset",
                                                  method="POST")).read()
    return moto_url


