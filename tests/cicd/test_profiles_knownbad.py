"""The known-bad data file and the credential-profile loader."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from trailhound.cicd.known_bad import builtin
from trailhound.cicd.profiles import ProfileError, load_profiles


def test_every_entry_is_sourced() -> None:
    kb = builtin()
    assert kb.entries
    for e in kb.entries:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", e.date), e.id
        assert re.match(r"^(GHSA-[\w-]+|CVE-\d{4}-\d+)$", e.advisory), e.id
        assert e.sources and all(s.startswith("https://") for s in e.sources), e.id
        assert e.severity in ("low", "medium", "high", "critical")


@pytest.mark.parametrize(("kind", "name", "ref", "expect"), [
    ("action", "aquasecurity/trivy-action", "0.34.2", "exact"),
    ("action", "aquasecurity/trivy-action", "v0.35.0", None),
    ("action", "aquasecurity/trivy-action", "0.36.0", None),
    ("action", "aquasecurity/trivy-action", "master", "could-resolve"),
    ("action", "AquaSecurity/Trivy-Action", "0.20.0", "exact"),
    ("action", "tj-actions/changed-files", "v45.0.7", "exact"),
    ("action", "tj-actions/changed-files", "v45", "could-resolve"),
    ("action", "tj-actions/changed-files", "v46.0.1", None),
    ("action", "tj-actions/changed-files", "v46", None),
    ("action", "tj-actions/changed-files", "a" * 40, None),
    ("action", "reviewdog/action-setup", "v1", "exact"),
    ("action", "reviewdog/action-setup", "v2", None),
    ("action", "reviewdog/action-shellcheck", "v1.19", "could-resolve"),
    ("tool", "trivy", "v0.69.4", "exact"),
    ("tool", "trivy", "0.69.3", None),
    ("tool", "trivy", "0.69", "could-resolve"),
    ("image", "aquasec/trivy", "latest", "could-resolve"),
    ("image", "aquasec/trivy", "0.69.6", "exact"),
    ("image", "ghcr.io/aquasecurity/trivy", "0.69.5", None),
    ("action", "actions/checkout", "v4", None),
])
def test_matching(kind: str, name: str, ref: str, expect: str | None) -> None:
    hits = builtin().match(kind, name, ref)
    assert (hits[0].how if hits else None) == expect


def test_load_profiles_rejects_bad_files(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    for content, msg in ((b"nope", "not JSON"), (b"{}", "profiles"),
                         (b'{"schema_version": 9, "profiles": []}', "schema_version"),
                         (b'{"schema_version": 1, "profiles": [{"workflow": "w", '
                          b'"jobs": [1]}]}', "jobs")):
        f.write_bytes(content)
        with pytest.raises(ProfileError, match=msg):
            load_profiles(f)
    with pytest.raises(ProfileError):
        load_profiles(tmp_path / "missing.json")
    f.write_bytes(orjson.dumps({"schema_version": 1, "profiles": [
        {"workflow": "w.yml", "jobs": ["a"], "secret_names": ["K"], "runner": "gitlab"}]}))
    (p,) = load_profiles(f)
    assert p.workflow == "w.yml" and p.expected_apis_hint == ()
