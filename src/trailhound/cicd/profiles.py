"""Credential profiles: the legitimate shape of a CI key, for CloudTrail.

For each pipeline that hands a long-lived AWS key to jobs, a profile says which secrets, which
jobs, which runner, what user-agent markers and which API calls the key's *legitimate* use
should show. `hunt --ci-profile FILE` reads it so that a CI key seen with another user agent,
from outside the runners, or calling APIs the pipeline never calls stands out.

File format (JSON, written by `audit-ci --profile-out FILE`, read by `load_profiles`):

    {
      "schema_version": 1,
      "generator": "trailhound audit-ci",
      "profiles": [
        {
          "workflow": ".github/workflows/deploy.yml",   # path relative to the audited root
          "ci": "github" | "gitlab",
          "jobs": ["deploy"],
          "secret_names": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
          "aws_region": "eu-west-1" | null,             # when the file sets one literally
          "runner": "github-hosted" | "self-hosted" | "gitlab",
          "user_agent_markers": ["exec-env/GitHubActions", "aws-cli/"],
          "expected_apis_hint": ["s3:PutObject", "sts:GetCallerIdentity"],
          "lines": [12]                                  # where the key is handed over
        }
      ]
    }

`secret_names` are the names of the repository/CI secrets (or CI variables) the key comes
from, never values. `expected_apis_hint` is `service:EventName` as CloudTrail writes them,
derived from the `aws` commands and well-known actions in those jobs; it is a hint (scripts
may call APIs we cannot see), empty when nothing is derivable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from trailhound.cicd.checks.credentials import aws_keys
from trailhound.cicd.pipeline import GITLAB, Job, Pipeline
from trailhound.cicd.refs import parse_uses
from trailhound.cicd.scripts import aws_calls
from trailhound.cicd.yamlnodes import LMap, text

SCHEMA_VERSION = 1

# High-level `aws s3` commands and `aws <service>` names that differ from CloudTrail's.
_S3 = {
    "cp": ["s3:PutObject", "s3:GetObject", "s3:ListObjectsV2"],
    "sync": ["s3:ListObjectsV2", "s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
    "mv": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
    "rm": ["s3:DeleteObject", "s3:ListObjectsV2"],
    "ls": ["s3:ListBuckets", "s3:ListObjectsV2"],
    "mb": ["s3:CreateBucket"], "rb": ["s3:DeleteBucket"], "presign": [],
}
_SERVICE = {"s3api": "s3", "ecr-public": "ecr-public", "configservice": "config",
            "elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing",
            "deploy": "codedeploy", "logs": "logs"}
_SPECIAL = {("ecr", "get-login-password"): "ecr:GetAuthorizationToken",
            ("ecr", "get-login"): "ecr:GetAuthorizationToken",
            ("eks", "update-kubeconfig"): "eks:DescribeCluster",
            ("cloudformation", "deploy"): "cloudformation:CreateChangeSet",
            ("ecs", "wait"): "ecs:DescribeServices"}
_ACTION_APIS = {
    "aws-actions/configure-aws-credentials": ["sts:GetCallerIdentity"],
    "aws-actions/amazon-ecr-login": ["ecr:GetAuthorizationToken"],
    "aws-actions/amazon-ecs-deploy-task-definition": ["ecs:RegisterTaskDefinition",
                                                      "ecs:UpdateService",
                                                      "ecs:DescribeServices"],
    "aws-actions/aws-cloudformation-github-deploy": ["cloudformation:CreateChangeSet",
                                                     "cloudformation:ExecuteChangeSet"],
}
_ACTION_UA = {"aws-actions/configure-aws-credentials":
              "configure-aws-credentials-for-github-actions"}
_CMD = r"(?:^|[;&|(`]|\bsudo)[ \t]*(?:[A-Za-z_]\w*=\S*[ \t]+)*"
_TOOL_UA = [(re.compile(_CMD + r"aws[ \t]", re.M), "aws-cli/"),
            (re.compile(_CMD + r"terraform[ \t]", re.M), "Terraform/"),
            (re.compile(_CMD + r"(?:npx[ \t]+)?cdk[ \t]", re.M), "aws-cdk/"),
            (re.compile(_CMD + r"sam[ \t]", re.M), "aws-sam-cli/"),
            (re.compile(_CMD + r"docker[ \t]+push\b[^\n]*\.ecr\.", re.M), "docker/")]
"""Tools in command position whose AWS SDK user agent CloudTrail will show."""


def _camel(op: str) -> str:
    return "".join(x[:1].upper() + x[1:] for x in op.split("-"))


def _apis(job: Job) -> list[str]:
    out: list[str] = []
    for st in job.steps:
        if st.uses:
            out += _ACTION_APIS.get(parse_uses(st.uses).slug, [])
    for s in job.scripts:
        for _off, svc, op in aws_calls(s):
            if svc == "s3":
                out += _S3.get(op, [])
            elif (svc, op) in _SPECIAL:
                out.append(_SPECIAL[(svc, op)])
            elif svc not in ("configure", "help"):
                out.append(f"{_SERVICE.get(svc, svc)}:{_camel(op)}")
        if re.search(r"\bdocker\s+push\b[^\n]*\.dkr\.ecr\.", s):
            out += ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload", "ecr:PutImage"]
    return out


def _ua(job: Job, gitlab: bool) -> list[str]:
    out = [] if gitlab else ["exec-env/GitHubActions"]
    for st in job.steps:
        if st.uses:
            ua = _ACTION_UA.get(parse_uses(st.uses).slug)
            if ua:
                out.append(ua)
    for s in job.scripts:
        out += [m for rx, m in _TOOL_UA if rx.search(s)]
    return out


def _region(p: Pipeline, job: Job) -> str | None:
    maps: list[LMap] = [p.env, p.inherited_env, job.env] + [st.env for st in job.steps]
    for m in maps:
        for k in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            v = text(m.get(k)).strip()
            if v and "${{" not in v and not v.startswith("$"):
                return v
    for st in job.steps:
        v = text(st.with_.get("aws-region")).strip()
        if v and "${{" not in v:
            return v
    return None


def _runner(p: Pipeline, jobs: list[Job]) -> str:
    if p.kind == GITLAB:
        return "gitlab"
    if any("self-hosted" in j.runs_on.lower() for j in jobs):
        return "self-hosted"
    return "github-hosted"


def profiles_for(p: Pipeline) -> list[dict[str, Any]]:
    """One profile per pipeline file that hands an AWS key to at least one job."""
    keys = aws_keys(p)
    if not keys:
        return []
    jobs: dict[str, Job] = {}
    for k in keys:
        for j in k.jobs:
            if not j.id.startswith(("(default)", ".")) or len(p.jobs) == 1:
                jobs.setdefault(j.id, j)
    secrets = list(dict.fromkeys(n for k in keys for n in k.secret_names))
    region = next((r for j in jobs.values() if (r := _region(p, j))), None)
    gitlab = p.kind == GITLAB
    ua = list(dict.fromkeys(m for j in jobs.values() for m in _ua(j, gitlab)))
    apis = list(dict.fromkeys(a for j in jobs.values() for a in _apis(j)))
    return [{
        "workflow": p.path, "ci": "gitlab" if gitlab else "github", "jobs": list(jobs),
        "secret_names": secrets, "aws_region": region, "runner": _runner(p, list(jobs.values())),
        "user_agent_markers": ua, "expected_apis_hint": apis,
        "lines": sorted({k.line for k in keys}),
    }]


def profiles_document(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "generator": "trailhound audit-ci",
            "profiles": profiles}


def write_profiles(path: Path, profiles: list[dict[str, Any]]) -> None:
    path.write_bytes(orjson.dumps(profiles_document(profiles), option=orjson.OPT_INDENT_2)
                     + b"\n")


@dataclass(frozen=True, slots=True)
class CredentialProfile:
    """One profile as `hunt --ci-profile` consumes it."""

    workflow: str
    jobs: tuple[str, ...]
    secret_names: tuple[str, ...]
    runner: str
    ci: str = "github"
    aws_region: str | None = None
    user_agent_markers: tuple[str, ...] = ()
    expected_apis_hint: tuple[str, ...] = ()
    lines: tuple[int, ...] = field(default_factory=tuple)


class ProfileError(ValueError):
    """The file is not a credential-profile document this version can read."""


def load_profiles(path: str | Path) -> list[CredentialProfile]:
    """Read a `--profile-out` file. Raises `ProfileError` with a one-line reason."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except OSError as e:
        raise ProfileError(f"{path}: {e.strerror or e}") from None
    except orjson.JSONDecodeError as e:
        raise ProfileError(f"{path}: not JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), list):
        raise ProfileError(f"{path}: no `profiles` list")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ProfileError(f"{path}: schema_version {doc.get('schema_version')!r}, "
                           f"expected {SCHEMA_VERSION}")
    out: list[CredentialProfile] = []
    for i, d in enumerate(doc["profiles"]):
        if not isinstance(d, dict) or not isinstance(d.get("workflow"), str):
            raise ProfileError(f"{path}: profile {i} has no `workflow`")

        def strs(key: str, d: dict[str, Any] = d, i: int = i) -> tuple[str, ...]:
            v = d.get(key) or []
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ProfileError(f"{path}: profile {i}: `{key}` must be a list of strings")
            return tuple(v)

        region = d.get("aws_region")
        out.append(CredentialProfile(
            workflow=d["workflow"], jobs=strs("jobs"), secret_names=strs("secret_names"),
            runner=str(d.get("runner", "github-hosted")), ci=str(d.get("ci", "github")),
            aws_region=region if isinstance(region, str) else None,
            user_agent_markers=strs("user_agent_markers"),
            expected_apis_hint=strs("expected_apis_hint"),
            lines=tuple(int(x) for x in d.get("lines") or [] if isinstance(x, int))))
    return out
