"""`trailhound audit-ci`: formats, exit codes, profile file, hostile text on the terminal."""

from __future__ import annotations

from pathlib import Path

import orjson

from trailhound.cicd import load_profiles

WF = Path(__file__).parent / "workflows"


def test_table_exit_0(cli) -> None:
    code, out, err = cli("audit-ci", str(WF / "long-lived-aws-key.pos.yml"))
    assert code == 0 and err == ""
    assert "long-lived-aws-key" in out and "CRITICAL" in out


def test_fail_on(cli) -> None:
    assert cli("audit-ci", str(WF / "permissions-missing.pos.yml"), "--fail-on", "high")[0] == 0
    assert cli("audit-ci", str(WF / "permissions-missing.pos.yml"),
               "--fail-on", "medium")[0] == 1
    assert cli("audit-ci", str(WF / "permissions-missing.neg.yml"), "--fail-on", "low")[0] == 0


def test_usage_errors_are_one_line(cli) -> None:
    for args in (("audit-ci", "/no/such/path"),
                 ("audit-ci", str(WF), "--format", "xml"),
                 ("audit-ci", str(WF), "--format", "sarif", "--inventory"),
                 ("audit-ci", str(WF), "--fail-on", "severe")):
        code, _out, err = cli(*args)
        assert code == 2, args
        assert err.count("\n") == 1 and err.startswith("trailhound: error:"), err


def test_json_and_inventory(cli) -> None:
    code, out, _ = cli("audit-ci", str(WF / "gitlab"), "--format", "json", "--inventory")
    assert code == 0
    doc = orjson.loads(out)
    assert doc["schema_version"] == 1
    kinds = {(d["kind"], d["name"]) for d in doc["inventory"]}
    assert ("include", "remote:https://example.com/ci/templates.yml") in kinds
    assert ("image", "aquasec/trivy") in kinds
    assert ("tool", "trivy") in kinds
    assert doc["profiles"][0]["runner"] == "gitlab"


def test_sarif_format(cli) -> None:
    code, out, _ = cli("audit-ci", str(WF / "unpinned-action.pos.yml"), "--format", "sarif")
    assert code == 0
    assert orjson.loads(out)["version"] == "2.1.0"


def test_profile_out_roundtrip(cli, tmp_path: Path) -> None:
    dest = tmp_path / "profiles.json"
    code, _out, _err = cli("audit-ci", str(WF / "long-lived-aws-key.pos.yml"),
                           "--format", "json", "--profile-out", str(dest))
    assert code == 0
    (p,) = load_profiles(dest)
    assert p.jobs == ("deploy", "publish")
    assert p.secret_names == ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CI_AWS_KEY",
                              "CI_AWS_SECRET")
    assert p.aws_region == "eu-west-1" and p.runner == "self-hosted"
    assert "exec-env/GitHubActions" in p.user_agent_markers
    assert {"s3:PutObject", "cloudfront:CreateInvalidation", "sts:GetCallerIdentity",
            "ecr:GetAuthorizationToken"} <= set(p.expected_apis_hint)


def test_hostile_text_is_escaped(cli, tmp_path: Path) -> None:
    f = tmp_path / "evil.yml"
    f.write_text('on: push\npermissions: {}\njobs:\n  "a\\e[2Jb[bold]":\n    runs-on: x\n'
                 '    steps:\n      - uses: "evil/act\\e]0;title\\a@v1"\n', encoding="utf-8")
    code, out, _ = cli("audit-ci", str(f))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "\\u001b" in out and "[bold]" in out
    code, out, _ = cli("audit-ci", str(f), "--format", "json")
    assert "\x1b" not in out
    assert orjson.loads(out)["findings"][0]["job"].startswith("a\x1b")
