"""Test setup common to every suite: the third-party fixtures and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.helpers import NetworkGuard

#: Third-party CloudTrail records kept in the repository with their licences (README there).
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process, outside any one test (module-scoped fixtures): returns
    (exit code, stdout, stderr)."""
    import contextlib
    import io

    from trailhound.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))

    def text(f: io.TextIOWrapper) -> str:
        f.flush()
        return f.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]

    return code, text(out), text(err)


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from trailhound.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(autouse=True)
def network_guard():
    """Every test fails if it opens a network connection (or DNS lookup) beyond loopback:
    trailhound talks to no host but the S3 endpoint a user names, and tests name loopback."""
    guard = NetworkGuard()
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()
    if guard.attempts:
        pytest.fail("non-loopback network access: " + "; ".join(guard.attempts[:5]),
                    pytrace=False)
