"""The security team's posture scanner: a daily burst of read calls in every account and region.

It is the largest legitimate look-alike of an attacker's reconnaissance: a role in the security
account assumes an audit role in each account (a cross-account `AssumeRole`, logged on both
sides), then lists and describes across services and every region, and is denied where the
audit policy stops it or a region is not enabled.
"""

from __future__ import annotations

import hashlib
import random

from trailhound.simulate import records as R
from trailhound.simulate.ctx import Ctx, Event, ri, rr
from trailhound.simulate.org import key_id

SHARE_SCANNER = 0.07

GLOBAL_CALLS = (
    ("iam.amazonaws.com", "ListUsers"), ("iam.amazonaws.com", "ListRoles"),
    ("iam.amazonaws.com", "ListPolicies"), ("iam.amazonaws.com", "GetAccountPasswordPolicy"),
    ("iam.amazonaws.com", "GenerateCredentialReport"), ("iam.amazonaws.com",
                                                        "GetCredentialReport"),
    ("iam.amazonaws.com", "ListAccessKeys"), ("iam.amazonaws.com", "ListMFADevices"),
    ("iam.amazonaws.com", "GetAccountAuthorizationDetails"),
    ("iam.amazonaws.com", "ListAttachedUserPolicies"),
    ("s3.amazonaws.com", "ListBuckets"), ("s3.amazonaws.com", "GetBucketPolicy"),
    ("s3.amazonaws.com", "GetBucketAcl"), ("s3.amazonaws.com", "GetBucketPublicAccessBlock"),
    ("s3.amazonaws.com", "GetBucketEncryption"), ("s3.amazonaws.com", "GetBucketLogging"),
    ("organizations.amazonaws.com", "DescribeOrganization"),
    ("cloudfront.amazonaws.com", "ListDistributions"), ("route53.amazonaws.com",
                                                        "ListHostedZones"),
)
REGIONAL_CALLS = (
    ("ec2.amazonaws.com", "DescribeInstances"), ("ec2.amazonaws.com", "DescribeSecurityGroups"),
    ("ec2.amazonaws.com", "DescribeVolumes"), ("ec2.amazonaws.com", "DescribeSnapshots"),
    ("ec2.amazonaws.com", "DescribeVpcs"), ("ec2.amazonaws.com", "DescribeFlowLogs"),
    ("rds.amazonaws.com", "DescribeDBInstances"), ("rds.amazonaws.com", "DescribeDBSnapshots"),
    ("lambda.amazonaws.com", "ListFunctions20150331"), ("kms.amazonaws.com", "ListKeys"),
    ("cloudtrail.amazonaws.com", "DescribeTrails"), ("cloudtrail.amazonaws.com",
                                                     "GetTrailStatus"),
    ("guardduty.amazonaws.com", "ListDetectors"), ("config.amazonaws.com",
                                                   "DescribeConfigurationRecorders"),
    ("secretsmanager.amazonaws.com", "ListSecrets"), ("ssm.amazonaws.com",
                                                      "DescribeParameters"),
    ("sns.amazonaws.com", "ListTopics"), ("sqs.amazonaws.com", "ListQueues"),
    ("logs.amazonaws.com", "DescribeLogGroups"), ("ecs.amazonaws.com", "ListClusters"),
)


def scanner(ctx: Ctx, hour_t: int, rng: random.Random, out: list[Event]) -> None:
    org = ctx.org
    if (hour_t // 3600) % 24 != org.scanner_hour:
        return
    role = org.scanner_role
    assert role is not None
    day = (hour_t - org.t0) // 86400
    t = hour_t + rng.randrange(0, 900)
    sec = org.accounts["security"]
    ip = org.scanner_ips[rr(rng, len(org.scanner_ips))]
    ua = org.scanner_ua
    # The scanner's own session in the security account (instance profile of its host).
    host = "i-0" + hashlib.blake2b(f"{org.seed}/scanner-host".encode(),
                                   digest_size=8).hexdigest()
    own = R.assumed_role(sec, role.name, role.role_id, host,
                         key_id("ASIA", org.seed, "scanner", day), R.iso(t - 600), ec2=True)
    out.append((t, R.management(t, rng, own, "sts.amazonaws.com", "GetCallerIdentity",
                                org.home_region, sec, ip, ua, read_only=True)))
    per_account = SHARE_SCANNER * org.mix["scanner"] * org.events_per_day / len(org.accounts)
    for acct_role, acct in org.accounts.items():
        audit = org.audit_roles[acct_role]
        session = f"scan-{day:03d}-{acct_role[:4]}"
        key = key_id("ASIA", org.seed, "audit", acct, day)
        t += ri(rng, 2, 20)
        for r in R.assume_role(t, rng, own, sec, acct, audit.name, audit.role_id, audit.arn,
                               session, key, ip, ua, org.home_region):
            out.append((t, r))
        ident = R.assumed_role(acct, audit.name, audit.role_id, session, key, R.iso(t))
        n = max(10, int(per_account * rng.uniform(0.8, 1.2)))
        n_global = n // 5
        for i in range(n):
            t += 1 if rng.random() < 0.7 else ri(rng, 0, 3)
            err = None
            if i < n_global:
                src, name = GLOBAL_CALLS[rr(rng, len(GLOBAL_CALLS))]
                region = "us-east-1"
                req = None
                if src == "s3.amazonaws.com" and name != "ListBuckets":
                    b = org.buckets[rr(rng, len(org.buckets))]
                    req = {"bucketName": b.name, "Host": f"{b.name}.s3.amazonaws.com"}
                    if rng.random() < 0.15:
                        err = ("NoSuchBucketPolicy" if name == "GetBucketPolicy"
                               else "AccessDenied", "The bucket policy does not exist"
                               if name == "GetBucketPolicy" else "Access Denied")
                if src == "organizations.amazonaws.com" and acct_role != "management":
                    err = ("AccessDeniedException", "You don't have permissions to access "
                           "this resource.")
            else:
                src, name = REGIONAL_CALLS[rr(rng, len(REGIONAL_CALLS))]
                region = org.all_regions[rr(rng, len(org.all_regions))]
                req = None
                if src in ("secretsmanager.amazonaws.com", "ssm.amazonaws.com") and \
                        rng.random() < 0.5:
                    err = ("AccessDenied" if src == "ssm.amazonaws.com"
                           else "AccessDeniedException",
                           f"User: {ident['arn']} is not authorized to perform: "
                           f"{src.split('.')[0]}:{name}")
            out.append((t, R.management(t, rng, ident, src, name, region, acct, ip, ua,
                                        read_only=True, req=req, error=err)))
