"""moto's server on loopback and an AWS environment that can reach nothing else.

Every suite that talks to AWS (S3 sources, respond, the reliability fault and socket tests)
starts moto the same way and strips the same user configuration; one definition here.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_USER_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
              "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "MOTO_ACCOUNT_ID")


@contextmanager
def running_moto() -> Iterator[str]:
    """A moto server on 127.0.0.1 and a free port; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def isolate_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, region: str,
                    credentials: bool = True) -> None:
    """No user profile, config or endpoint leaks in; dummy credentials unless told not to."""
    for var in _USER_VARS:
        monkeypatch.delenv(var, raising=False)
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def reset_moto(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).read()
