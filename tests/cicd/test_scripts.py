"""The shell-text readers behind runtime-tool-install, images in scripts, tool versions and
expected APIs: each pattern with a case it must catch and one it must leave alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailhound.cicd import audit
from trailhound.cicd.scripts import (
    aws_calls,
    docker_images,
    downloads,
    latest_installs,
    pipe_to_shell,
    unversioned_security_tools,
)


@pytest.mark.parametrize(("text", "hit"), [
    ("curl -sfL https://x.io/i.sh | sh", True),
    ("curl -sfL https://x.io/i.sh | sudo -E bash -s -- v1", True),
    ("wget -qO- https://x.io/i.sh | bash", True),
    ("bash <(curl -s https://x.io/i.sh)", True),
    ('sh -c "$(curl -fsSL https://x.io/i.sh)"', True),
    ("iwr https://x.io/i.ps1 | iex", True),
    ("curl -sfLo i.sh https://x.io/i.sh && sha256sum -c i.sh.sha256 && sh i.sh", False),
    ("curl -s https://api.x.io/v1 | jq .name", False),
])
def test_pipe_to_shell(text: str, hit: bool) -> None:
    assert bool(list(pipe_to_shell(text))) is hit


def test_download_versions() -> None:
    got = {(d.tool, d.version, d.piped) for d in downloads(
        "curl -LO https://github.com/aquasecurity/trivy/releases/download/v0.69.4/"
        "trivy_0.69.4_Linux-64bit.tar.gz\n"
        "curl -sfL https://raw.githubusercontent.com/aquasecurity/trivy/main/contrib/install.sh"
        " | sh -s -- -b /usr/local/bin v0.69.3\n"
        "wget https://github.com/anchore/grype/releases/latest/download/grype.tgz\n")}
    assert got == {("trivy", "0.69.4", False), ("trivy", "0.69.3", True),
                   ("grype", "latest", False)}


def test_latest_and_unversioned_installs() -> None:
    assert [h.text for h in latest_installs("go install golang.org/x/vuln/cmd/govulncheck@latest")]
    assert not list(latest_installs("go install golang.org/x/vuln/cmd/govulncheck@v1.1.4"))
    tools = [t for _h, t in unversioned_security_tools(
        "sudo apt-get install -y trivy jq\npip install checkov==3.2.1\npip install semgrep")]
    assert tools == ["trivy", "semgrep"]


def test_docker_images_skip_flags() -> None:
    imgs = [i for _o, i in docker_images(
        'docker run --rm -v "$PWD:/src" -e A=1 --name scan aquasec/trivy:0.69.3 fs /src\n'
        "docker pull ghcr.io/org/img@sha256:" + "a" * 64)]
    assert imgs == ["aquasec/trivy:0.69.3", "ghcr.io/org/img@sha256:" + "a" * 64]


def test_aws_calls() -> None:
    calls = [(s, c) for _o, s, c in aws_calls(
        "aws --region eu-west-1 s3 sync . s3://b\naws ecs update-service --cluster c\n"
        "echo aws is great")]
    assert calls == [("s3", "sync"), ("ecs", "update-service")]


def test_downloaded_compromised_trivy_is_known_bad(tmp_path: Path) -> None:
    f = tmp_path / "w.yml"
    f.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: x\n    steps:\n"
                 "      - run: |\n          curl -LO https://github.com/aquasecurity/trivy/"
                 "releases/download/v0.69.4/trivy_0.69.4_Linux-64bit.tar.gz\n")
    kb = [x for x in audit([f]).findings if x.rule_id == "known-bad-version"]
    assert [(x.line, x.severity, x.detail["advisory"]) for x in kb] == [
        (8, "critical", "GHSA-69fq-xp46-6x23")]


def test_commented_lines_run_nothing() -> None:
    text = "# curl -sfL https://x.io/i.sh | sh\n  # docker run evil:latest\necho ok\n"
    assert not list(pipe_to_shell(text)) and not list(docker_images(text))
    assert not list(downloads(text))
