"""What shell text in a pipeline does: pipe-to-shell installs, downloads, `docker run`
images, `aws` CLI calls.

Regular expressions, not a shell parser: pipelines are short, the patterns that matter are
few and stable, and a miss here only costs a finding, never a crash. Offsets are returned so
findings can point at the exact line inside a multi-line `run:` block.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

SECURITY_TOOLS = frozenset({
    "trivy", "grype", "syft", "cosign", "snyk", "checkov", "tfsec", "kics", "gitleaks",
    "trufflehog", "semgrep", "zizmor", "hadolint", "kubescape", "reviewdog", "terrascan",
    "osv-scanner", "dependency-check", "sonar-scanner", "tflint", "bandit", "prowler",
    "scorecard", "docker-scout", "clair", "anchore",
})
"""Scanners and linters: they run with the pipeline's secrets in reach by design, which is
exactly why a backdoored one (Trivy, March 2026) is so effective."""

_URL = re.compile(r"""https?://[^\s'"|;&)<>`]+""")
_PIPE_SHELL = re.compile(
    r"""\b(curl|wget|iwr|Invoke-WebRequest)\b[^\n|;&]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?"""
    r"""(?:env\s+\S+=\S+\s+)*(bash|sh|zsh|dash|ksh|python3?|perl|ruby|node|iex)\b""",
    re.IGNORECASE)
_SUBST_SHELL = re.compile(
    r"""\b(bash|sh|zsh|python3?)\b[^\n|;&]*?(?:<\(|\$\()\s*(curl|wget)\b""")
_DOWNLOAD = re.compile(r"\b(curl|wget|iwr|Invoke-WebRequest)\b[^\n]*")
_LATEST_PKG = re.compile(
    r"""\b(?:go\s+install|npx|npm\s+(?:i|install)\s+(?:-g\s+)?|pnpm\s+dlx|bunx)\s+"""
    r"""(?:\S*\s+)*?([@\w./-]+)@latest\b""")
_APT = re.compile(r"\b(?:apt-get|apt|yum|dnf|apk|brew)\s+(?:-\S+\s+)*(?:install|add)\s+([^\n;&|]+)")
_PIP = re.compile(r"\b(?:pip3?|pipx|uv\s+tool)\s+install\s+([^\n;&|]+)")
_DOCKER = re.compile(r"\b(?:docker|podman)\s+(run|pull|create)\s+([^\n;&|]+)")
_DOCKER_VALUE_FLAGS = frozenset({
    "-v", "--volume", "-e", "--env", "-w", "--workdir", "--name", "--entrypoint", "-p",
    "--publish", "-u", "--user", "--network", "--net", "--platform", "--env-file", "--mount",
    "-l", "--label", "--add-host", "--cpus", "-m", "--memory", "--hostname", "-h",
    "--cap-add", "--cap-drop", "--security-opt", "--ulimit", "--pull", "--gpus", "--ipc",
    "--pid", "--restart", "--shm-size", "--tmpfs", "--device", "--dns", "--log-driver",
})
# `aws` in command position only (line start, after ; & | ( ` or sudo, env assignments
# allowed), so `echo aws is great` is not an API call.
_AWS = re.compile(r"(?:^|[;&|(`]|\bsudo)[ \t]*(?:[A-Za-z_]\w*=\S*[ \t]+)*aws[ \t]+"
                  r"((?:--[\w-]+(?:[= ](?!-)\S+)?[ \t]+)*)([a-z][a-z0-9-]*)[ \t]+"
                  r"([a-z][a-z0-9-]*)", re.M)
_VERSION = re.compile(r"(?<![\w.])v?(\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?)(?![\w])")


_COMMENT = re.compile(r"(?m)^[ \t]*#.*$")


def _code(script: str) -> str:
    """The script with whole-line comments blanked (same length, so offsets still map to
    lines): `# curl … | sh` in a comment runs nothing."""
    return _COMMENT.sub(lambda m: " " * len(m.group()), script) if "#" in script else script


@dataclass(frozen=True, slots=True)
class Hit:
    offset: int
    text: str


@dataclass(frozen=True, slots=True)
class Download:
    offset: int
    url: str
    tool: str
    version: str | None
    piped: bool


def pipe_to_shell(script: str) -> Iterator[Hit]:
    """`curl … | sh`, `wget -O- … | bash`, `bash <(curl …)`, `iwr … | iex`."""
    script = _code(script)
    for m in _PIPE_SHELL.finditer(script):
        yield Hit(m.start(), m.group())
    for m in _SUBST_SHELL.finditer(script):
        yield Hit(m.start(), m.group())


def _tool_from_url(url: str) -> str:
    m = re.match(r"https?://(?:www\.)?github\.com/([^/]+)/([^/]+)", url)
    if m:
        return m.group(2).lower()
    m = re.match(r"https?://raw\.githubusercontent\.com/([^/]+)/([^/]+)", url)
    if m:
        return m.group(2).lower()
    m = re.match(r"https?://([^/:]+)", url)
    return m.group(1).lower() if m else url


def downloads(script: str) -> Iterator[Download]:
    """Every URL fetched by curl/wget/iwr, the tool it probably installs and its version
    (from the URL, or from the arguments given to a piped install script)."""
    script = _code(script)
    for m in _DOWNLOAD.finditer(script):
        line = m.group()
        piped = bool(_PIPE_SHELL.search(line))
        for u in _URL.finditer(line):
            url = u.group()
            tool = _tool_from_url(url)
            after = line[u.end():]
            version = None
            if "/latest/" in url or url.endswith("/latest"):
                version = "latest"
            else:
                vm = _VERSION.search(url.split("?", 1)[0]) or (
                    _VERSION.search(after) if piped else None)
                if vm:
                    version = vm.group(1)
            yield Download(m.start() + u.start(), url, tool, version, piped)


def latest_installs(script: str) -> Iterator[Hit]:
    """`go install x@latest`, `npx x@latest`: whatever the registry serves at run time."""
    script = _code(script)
    for m in _LATEST_PKG.finditer(script):
        yield Hit(m.start(), m.group())


def unversioned_security_tools(script: str) -> Iterator[tuple[Hit, str]]:
    """A scanner installed from a package manager without a version (`apt-get install
    trivy`, `pip install checkov`): the next run gets whatever was published last."""
    script = _code(script)
    for rx in (_APT, _PIP):
        for m in rx.finditer(script):
            for tok in m.group(1).split():
                if tok.startswith("-"):
                    continue
                name = re.split(r"[=<>~!@\[]", tok, maxsplit=1)[0].lower()
                if name in SECURITY_TOOLS and not re.search(r"[=<>~@]", tok):
                    yield Hit(m.start(), m.group().strip()), name


def docker_images(script: str) -> Iterator[tuple[int, str]]:
    """Images named by `docker run|pull|create` (first non-option argument)."""
    script = _code(script)
    for m in _DOCKER.finditer(script):
        toks = m.group(2).split()
        skip = False
        for t in toks:
            if skip:
                skip = False
                continue
            if t.startswith("-"):
                if t in _DOCKER_VALUE_FLAGS:
                    skip = True
                continue
            yield m.start(), t.strip("'\"")
            break


def aws_calls(script: str) -> Iterator[tuple[int, str, str]]:
    """`aws <service> <command>` invocations: (offset, service, command)."""
    script = _code(script)
    for m in _AWS.finditer(script):
        yield m.start(), m.group(2), m.group(3)


def mentions_tool(text: str, tool: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", text, re.IGNORECASE) is not None
