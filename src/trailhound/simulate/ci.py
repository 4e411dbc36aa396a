"""The CI/CD pipeline and its long-lived IAM-user key: the key the reference attack steals.

Its legitimate use has the stable shape the attack chain describes: a few runner IPs, CI user
agents tagged `exec-env/GitHubActions`, and a small set of calls. Deploys push an image to ECR,
upload an artifact to S3, roll an ECS service and invalidate CloudFront; a nightly `terraform
plan` reads IAM and infrastructure (legitimate IAM reads by the very key that gets stolen).
Every run starts with `GetCallerIdentity`, as credential-configuring actions do.
"""

from __future__ import annotations

import random

from trailhound.simulate import records as R
from trailhound.simulate.ctx import Ctx, Event, count, ri, rr
from trailhound.simulate.org import Org

SHARE_CI = 0.06
_DEPLOY_LEN = 16
_TF_LEN = 40


def terraform_ua(org: Org) -> str:
    v = 40 + org.seed % 30
    return (f"APN/1.0 HashiCorp/1.0 Terraform/1.{7 + org.seed % 3}.{org.seed % 6} "
            f"(+https://www.terraform.io) terraform-provider-aws/5.{v}.0 "
            f"(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.2"
            f"{org.seed % 9}.0 ua/2.0 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 "
            f"exec-env/GitHubActions")


def ci(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event]) -> None:
    org = ctx.org
    h = (hour_t // 3600) % 24
    wd = ((hour_t - org.t0) // 86400 + org.start.weekday()) % 7
    daily = SHARE_CI * org.mix["ci"] * org.events_per_day
    tf_hour = 2 + org.seed % 3
    if h == tf_hour:
        n_tf = max(1, round(daily * 0.3 / _TF_LEN))
        for _ in range(n_tf):
            run(org, hour_t + rr(rng, 3000), rng, org.ci_runner_ips[
                rr(rng, len(org.ci_runner_ips))], out, kind="terraform")
    if 7 <= h < 19 and wd < 5:
        runs = count(daily * 0.7 / _DEPLOY_LEN / 12, rng)
    else:
        runs = count(daily * 0.02 / _DEPLOY_LEN, rng)
    for _ in range(runs):
        run(org, hour_t + rr(rng, 3300), rng,
            org.ci_runner_ips[rr(rng, len(org.ci_runner_ips))], out, kind="deploy")


def run(org: Org, t: int, rng: random.Random, ip: str, out: list[Event], *, kind: str,
        uas: tuple[str, ...] | None = None) -> None:
    """One pipeline run from runner `ip` starting at `t`."""
    u = org.ci
    assert u is not None
    ident = R.iam_user(u.account, u.name, u.principal_id, u.key_at(t))
    cli, js, _py = uas or org.ci_uas
    acct = u.account
    reg = org.home_region
    out.append((t, R.management(t, rng, ident, "sts.amazonaws.com", "GetCallerIdentity", reg,
                                acct, ip, js, read_only=True)))
    if kind == "terraform":
        tf = uas[2] if uas else terraform_ua(org)
        calls = [
            ("iam.amazonaws.com", "GetRole", {"roleName": org.web_role.name} if org.web_role
             else None),
            ("iam.amazonaws.com", "ListRolePolicies", None),
            ("iam.amazonaws.com", "ListAttachedRolePolicies", None),
            ("iam.amazonaws.com", "GetPolicy", None), ("iam.amazonaws.com", "GetPolicyVersion",
                                                       None),
            ("iam.amazonaws.com", "GetUser", {"userName": u.name}),
            ("ec2.amazonaws.com", "DescribeInstances", None),
            ("ec2.amazonaws.com", "DescribeVpcs", None),
            ("ec2.amazonaws.com", "DescribeSecurityGroups", None),
            ("ec2.amazonaws.com", "DescribeSubnets", None),
            ("ecs.amazonaws.com", "DescribeServices", None),
            ("ecs.amazonaws.com", "DescribeClusters", None),
            ("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", None),
            ("s3.amazonaws.com", "GetBucketPolicy", None),
            ("s3.amazonaws.com", "GetBucketVersioning", None),
            ("cloudfront.amazonaws.com", "GetDistribution", None),
        ]
        for _ in range(_TF_LEN - 1):
            t += ri(rng, 0, 2)
            src, name, req = calls[rr(rng, len(calls))]
            if src == "s3.amazonaws.com":
                b = org.tenant_buckets[rr(rng, len(org.tenant_buckets))]
                req = {"bucketName": b.name, "Host": f"{b.name}.s3.{b.region}.amazonaws.com"}
            region = "us-east-1" if src in ("iam.amazonaws.com", "cloudfront.amazonaws.com") \
                else reg
            out.append((t, R.management(t, rng, ident, src, name, region, acct, ip, tf,
                                        read_only=True, req=req)))
        return
    repo = f"{acct}.dkr.ecr.{reg}.amazonaws.com"
    t += ri(rng, 5, 30)
    out.append((t, R.management(t, rng, ident, "ecr.amazonaws.com", "GetAuthorizationToken",
                                reg, acct, ip, cli, read_only=True)))
    name = ("portal", "cms", "api", "static-site")[rr(rng, 4)]
    for op in ("BatchCheckLayerAvailability", "InitiateLayerUpload", "CompleteLayerUpload",
               "PutImage"):
        t += ri(rng, 3, 40)
        out.append((t, R.management(t, rng, ident, "ecr.amazonaws.com", op, reg, acct, ip,
                                    "docker/24.0.9 go/go1.21.11 git-commit/fe8b9ff "
                                    "os/linux arch/amd64",
                                    read_only=op == "BatchCheckLayerAvailability",
                                    req={"repositoryName": name, "registryId": acct})))
    art = org.artifacts_bucket
    assert art is not None
    t += ri(rng, 5, 30)
    size = ri(rng, 2_000_000, 60_000_000)
    out.append((t, R.s3_data(t, rng, ident, "PutObject", art.name,
                             f"releases/{name}/build-{rr(rng, 100000):05d}.zip",
                             art.region, art.account, ip, cli, bytes_in=size)))
    del repo
    for op in ("DescribeTaskDefinition", "RegisterTaskDefinition", "UpdateService"):
        t += ri(rng, 2, 10)
        out.append((t, R.management(t, rng, ident, "ecs.amazonaws.com", op, reg, acct, ip, cli,
                                    read_only=op.startswith("Describe"),
                                    req={"cluster": "hosting-prod", "service": name}
                                    if op == "UpdateService" else {"taskDefinition": name})))
    for _ in range(ri(rng, 2, 5)):
        t += ri(rng, 15, 30)
        out.append((t, R.management(t, rng, ident, "ecs.amazonaws.com", "DescribeServices", reg,
                                    acct, ip, cli, read_only=True,
                                    req={"cluster": "hosting-prod", "services": [name]})))
    t += ri(rng, 2, 10)
    out.append((t, R.management(t, rng, ident, "cloudfront.amazonaws.com", "CreateInvalidation",
                                "us-east-1", acct, ip, cli, read_only=False,
                                req={"distributionId": f"E{org.seed % 1000:03d}ABCDEF12",
                                     "invalidationBatch": {"paths": {"quantity": 1,
                                                                     "items": ["/*"]}}})))
    if rng.random() < 0.5:
        t += ri(rng, 1, 5)
        out.append((t, R.management(t, rng, ident, "ssm.amazonaws.com", "GetParameters", reg,
                                    acct, ip, cli, read_only=True,
                                    req={"names": [f"/{name}/prod/release"],
                                         "withDecryption": False})))
