"""Local discovery: AWS's S3 layout (with and without an organisation level), digests skipped."""

from __future__ import annotations

import pytest

import cloudtrail as ct
from trailhound.errors import UsageError
from trailhound.sources import discover, layout


def test_layout_parse_with_and_without_org():
    p = "x/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/19/f.json.gz"
    info = layout.parse(p)
    assert info and (info.account, info.region, info.date, info.org) == (
        "111122223333", "eu-west-1", "2026-03-19", None)
    info = layout.parse("AWSLogs/o-abcd1234ef/111122223333/CloudTrail/us-east-1/2026/01/02/f.gz")
    assert info and info.org == "o-abcd1234ef" and info.account == "111122223333"


def test_discover_skips_digests_and_non_logs(tmp_path):
    ct.write_aws_layout(tmp_path, [ct.record("ListUsers")])
    ct.write_aws_layout(tmp_path, [ct.record("ListUsers")], org="o-abcd1234ef")
    digest = (tmp_path / "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/03/19")
    digest.mkdir(parents=True)
    (digest / "111122223333_CloudTrail-Digest_eu-west-1_x_20260319T1000Z.json.gz").write_bytes(
        b"x")
    (tmp_path / "README.txt").write_text("notes")
    skipped: list[tuple[str, str]] = []
    found = list(discover([str(tmp_path)], skipped=lambda n, w: skipped.append((n, w))))
    assert len(found) == 2
    assert all(f.name.endswith(".json.gz") for f in found)
    reasons = {w for _, w in skipped}
    assert "CloudTrail digest folder" in reasons
    assert "not a log file (extension)" in reasons


def test_discover_is_sorted_and_lazy(tmp_path):
    for n in range(5):
        ct.write_aws_layout(tmp_path, [ct.record("ListUsers")], stamp=f"20260319T10{n}0Z")
    it = discover([str(tmp_path)])
    first = next(it)
    rest = list(it)
    names = [first.name] + [r.name for r in rest]
    assert names == sorted(names)


def test_missing_source_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        list(discover([str(tmp_path / "nope")]))
