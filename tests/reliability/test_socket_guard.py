"""trailhound opens no network connection except to the S3 endpoint the user gave.

The autouse `network_guard` (conftest.py) refuses and records every non-loopback connect,
sendto and name lookup made through Python's socket module. These tests first prove the guard
bites (a test that cannot fail proves nothing), then run simulate, ingest, detect, hunt and
investigate in-process, and an `s3://` ingest against moto on 127.0.0.1, under it.
Limit: DuckDB's C++ code does not go through Python sockets; trailhound never loads DuckDB
extensions (no httpfs), and `test_no_duckdb_extension_is_loaded` checks that.
"""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import cloudtrail as ct
from aws_test_env import isolate_aws_env, running_moto
from reliability.helpers import NetworkGuard


@pytest.fixture(scope="module")
def hunted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated organisation hunted end to end, under a guard of its own."""
    from trailhound.cli import main

    guard = NetworkGuard()
    guard.install()
    try:
        root = tmp_path_factory.mktemp("net")
        assert main(["simulate", "--out", str(root / "logs"), "--days", "1",
                     "--events-per-day", "500", "--seed", "7"]) == 0
        assert main(["ingest", str(root / "logs"), "--store", str(root / "store")]) == 0
        assert main(["hunt", "--store", str(root / "store"), "--out", str(root / "out")]) == 0
    finally:
        guard.uninstall()
    assert guard.attempts == [], guard.attempts
    return root


def test_the_guard_refuses_and_records_non_loopback(network_guard: NetworkGuard) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError, match="network guard"):
            s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    finally:
        s.close()
    with pytest.raises(ConnectionRefusedError):
        socket.getaddrinfo("example.com", 443)
    assert len(network_guard.attempts) == 2
    network_guard.attempts.clear()  # expected here; any other test doing this fails
    # Loopback stays allowed (moto, the report's browser test).
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname(), timeout=5)
    c.close()
    srv.close()


def test_detect_and_investigate_open_no_network(hunted: Path, cli) -> None:
    code, out, _ = cli("detect", "--store", str(hunted / "store"), "--format", "json")
    assert code == 0 and json.loads(out)
    incidents = json.loads((hunted / "out" / "incidents.json").read_text())["incidents"]
    assert incidents, "the simulated attack should give an incident"
    code, _, _ = cli("investigate", "--store", str(hunted / "store"), "--incident",
                     incidents[0]["id"])
    assert code == 0


def test_no_duckdb_extension_is_loaded(hunted: Path) -> None:
    """Extensions are what would make DuckDB itself reach the network (httpfs, autoinstall)."""
    from trailhound.store.engine import Store

    st = Store(hunted / "store")
    try:
        conn = st.connect()
        loaded = {r[0] for r in conn.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded AND "
            "installed_from NOT IN ('', 'statically_linked') AND installed_from IS NOT NULL"
        ).fetchall()}
    finally:
        st.close()
    assert not loaded & {"httpfs", "aws", "azure", "iceberg", "delta"}, loaded


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    isolate_aws_env(monkeypatch, tmp_path, region="us-east-1", credentials=False)
    with running_moto() as url:
        yield url


def _bucket(url: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    body = gzip.compress(json.dumps({"Records": [ct.record("ListUsers", eventID="s3-1")]})
                         .encode())
    s3.put_object(Bucket="trail", Key="AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/19/"
                  "111122223333_CloudTrail_eu-west-1_20260319T1000Z_a.json.gz", Body=body)


def test_s3_ingest_talks_only_to_the_given_endpoint(moto_url: str, tmp_path: Path, cli,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _bucket(moto_url)
    code, _, err = cli("ingest", "s3://trail/", "--store", str(tmp_path / "st"),
                       "--endpoint-url", moto_url, "--format", "json")
    assert code == 0, err


def test_s3_without_credentials_does_not_probe_instance_metadata(
        moto_url: str, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch,
        network_guard: NetworkGuard) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_METADATA_SERVICE_TIMEOUT", "1")
    cli("ingest", "s3://trail/", "--store", str(tmp_path / "st"), "--endpoint-url", moto_url)
    seen = list(network_guard.attempts)
    network_guard.attempts.clear()  # reported by this assertion, not by the fixture
    assert seen == [], seen
