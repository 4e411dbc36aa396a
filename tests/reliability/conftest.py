"""Shared guards for the reliability suite.

- `network_guard` (autouse): every test here runs with Python's socket layer watched. A
  connection to anything but loopback fails the test: trailhound must not phone home, fetch
  rules, resolve hostnames or reach AWS unless the user pointed it at an endpoint (the S3
  tests use moto on 127.0.0.1). The guard is in this folder's conftest so it cannot disturb
  other engineers' suites; `NetworkGuard` is importable so the top-level conftest can adopt it.
- `helpers.time_limit`: a SIGALRM wall-clock limit for code that could loop forever on hostile
  input. Hypothesis deadlines only judge an example after it returns; an infinite loop never
  returns, so the alarm is what turns a hang into a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reliability.helpers import NetworkGuard


@pytest.fixture(autouse=True)
def network_guard() -> Iterator[NetworkGuard]:
    """Fails the test if anything tried a non-loopback connection, even if it was caught."""
    guard = NetworkGuard()
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()
    if guard.attempts:
        pytest.fail("test opened non-loopback network connections: "
                    + "; ".join(guard.attempts[:5]), pytrace=False)
