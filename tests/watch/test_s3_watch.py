"""`watch s3://...` against moto's S3 server over HTTP on loopback: each poll reads only the
objects delivered since the last one, and the day listing follows the trail."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

import cloudtrail as ct
from aws_test_env import isolate_aws_env, running_moto
from trailhound.cli import main

ACCOUNT = "111122223333"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    with running_moto() as url:
        isolate_aws_env(monkeypatch, tmp_path, region="us-east-1")
        client = boto3.client("s3", endpoint_url=url)
        client.create_bucket(Bucket="trail")
        yield client, url


def _put(client: object, day: str, hhmm: str, records: list[dict]) -> None:
    y, m, d = day.split("-")
    key = (f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{y}/{m}/{d}/"
           f"{ACCOUNT}_CloudTrail_us-east-1_{y}{m}{d}T{hhmm}Z_{hhmm}abcdefabcdef.json.gz")
    client.put_object(Bucket="trail", Key=key,  # type: ignore[attr-defined]
                      Body=gzip.compress(json.dumps({"Records": records}).encode()))


def _watch_once(url: str, store: Path) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["watch", "s3://trail/AWSLogs/", "--store", str(store), "--once",
                     "--endpoint-url", url, "--no-sigma"])
    assert code == 0, err.getvalue()
    return err.getvalue()


def test_each_poll_reads_only_new_objects(s3: tuple, tmp_path: Path) -> None:
    client, url = s3
    store = tmp_path / "store"
    _put(client, "2026-03-19", "1000",
         [ct.record("ListUsers", time="2026-03-19T09:58:00Z") for _ in range(4)])
    assert "1 new objects · 4 events" in _watch_once(url, store)
    assert "0 new objects · 0 events" in _watch_once(url, store)
    _put(client, "2026-03-19", "1005", [ct.record("ListRoles", time="2026-03-19T10:02:00Z")])
    _put(client, "2026-03-20", "0005", [ct.record("ListRoles", time="2026-03-20T00:01:00Z")])
    assert "2 new objects · 2 events" in _watch_once(url, store)
    # The listing now starts at the day before the newest event; new objects there are read.
    _put(client, "2026-03-20", "0010", [ct.record("ListRoles", time="2026-03-20T00:06:00Z")])
    assert "1 new objects · 1 events" in _watch_once(url, store)
