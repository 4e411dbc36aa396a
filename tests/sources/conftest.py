"""S3 tests talk to moto's S3 server over HTTP on loopback: real boto3 requests, real
pagination and real errors, nothing patched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aws_test_env import isolate_aws_env, reset_moto, running_moto


@pytest.fixture(scope="session")
def moto_s3_url() -> Iterator[str]:
    with running_moto() as url:
        yield url


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_s3_url: str) -> str:
    """Dummy credentials, no user AWS config, the endpoint as the AWS CLI takes it from the
    environment, and an empty moto; returns the endpoint URL."""
    isolate_aws_env(monkeypatch, tmp_path, region="us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3_url)
    reset_moto(moto_s3_url)
    return moto_s3_url
