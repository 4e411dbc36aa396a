"""CloudTrail record builders, shaped after AWS's documented record examples.

Shapes follow the CloudTrail user guide's examples for: `userIdentity` of type IAMUser,
AssumedRole (with `sessionContext.sessionIssuer` and `attributes`, `ec2RoleDelivery` for
instance-profile sessions), AWSService (`invokedBy`), AWSAccount (the trusting account's copy
of a cross-account `AssumeRole`) and IdentityCenterUser; management events such as
`GetCallerIdentity`, `ListUsers`, `CreateAccessKey` (response `accessKey{accessKeyId, status,
userName, createDate}`), `AssumeRole` (response `credentials{accessKeyId, sessionToken,
expiration}` and `assumedRoleUser{arn, assumedRoleId}`), `ConsoleLogin` (event type
AwsConsoleSignIn); and S3 data events `GetObject`, `PutObject`, `HeadObject`, `ListObjects(V2)`
with a `resources` list and `additionalEventData{bytesTransferredIn, bytesTransferredOut, ...}`.

Keys are emitted in the order CloudTrail writes them. Builders share immutable sub-objects
(identities, TLS details) between records: nothing mutates a record after it is built, and
sharing keeps generation fast.
"""

from __future__ import annotations

import random
import time
from typing import Any

Record = dict[str, Any]

_HOUR_PREFIX: dict[int, str] = {}
_TLS: dict[str, dict[str, str]] = {}
_TLS_SUITES = (("TLSv1.3", "TLS_AES_128_GCM_SHA256"), ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))
GLOBAL_REGION = "us-east-1"


def iso(t: int) -> str:
    """Epoch seconds -> `YYYY-MM-DDTHH:MM:SSZ`, the form of `eventTime`."""
    h = t - t % 3600
    p = _HOUR_PREFIX.get(h)
    if p is None:
        p = time.strftime("%Y-%m-%dT%H:", time.gmtime(h))
        _HOUR_PREFIX[h] = p
    r = t - h
    return f"{p}{r // 60:02d}:{r % 60:02d}Z"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID from `rng` (so ids are reproducible per seed)."""
    h = rng.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def s3_request_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016X}"


def amz_id2(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"[:56] + "="


def tls(host: str, v13: bool = True) -> dict[str, str]:
    key = ("3" if v13 else "2") + host
    d = _TLS.get(key)
    if d is None:
        ver, suite = _TLS_SUITES[0 if v13 else 1]
        d = {"tlsVersion": ver, "cipherSuite": suite, "clientProvidedHostHeader": host}
        _TLS[key] = d
    return d


def host_for(source: str, region: str) -> str:
    svc = source.split(".", 1)[0]
    if svc in ("iam", "organizations", "cloudfront", "route53"):
        return f"{svc}.amazonaws.com"
    if svc == "sts" and region == GLOBAL_REGION:
        return "sts.amazonaws.com"
    if svc == "signin":
        return "signin.aws.amazon.com"
    if svc == "sso":
        return f"portal.sso.{region}.amazonaws.com"
    return f"{svc}.{region}.amazonaws.com"


# ---- identities -------------------------------------------------------------------------

def iam_user(account: str, user: str, principal_id: str, key: str | None) -> Record:
    ident: Record = {"type": "IAMUser", "principalId": principal_id,
                     "arn": f"arn:aws:iam::{account}:user/{user}", "accountId": account}
    if key:
        ident["accessKeyId"] = key
    ident["userName"] = user
    return ident


def assumed_role(account: str, role: str, role_id: str, session: str, key: str,
                 created: str, *, path: str = "/", mfa: bool = False, ec2: bool = False,
                 invoked_by: str | None = None, issuer_account: str | None = None) -> Record:
    """AssumedRole identity. `account` is the role's account; the session is always in it."""
    ctx: Record = {
        "sessionIssuer": {"type": "Role", "principalId": role_id,
                          "arn": f"arn:aws:iam::{account}:role{path}{role}",
                          "accountId": account, "userName": role},
        "webIdFederationData": {},
        "attributes": {"creationDate": created, "mfaAuthenticated": "true" if mfa else "false"},
    }
    if ec2:
        ctx["ec2RoleDelivery"] = "2.0"
    ident: Record = {"type": "AssumedRole", "principalId": f"{role_id}:{session}",
                     "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
                     "accountId": account, "accessKeyId": key, "sessionContext": ctx}
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def aws_service(service: str) -> Record:
    return {"type": "AWSService", "invokedBy": service}


def aws_account(principal_id: str, account: str) -> Record:
    return {"type": "AWSAccount", "principalId": principal_id, "accountId": account}


def identity_center_user(account: str, user_id: str, store_arn: str) -> Record:
    return {"type": "IdentityCenterUser", "accountId": account,
            "onBehalfOf": {"userId": user_id, "identityStoreArn": store_arn},
            "credentialId": user_id[-12:]}


# ---- events -------------------------------------------------------------------------------

def management(t: int, rng: random.Random, ident: Record, source: str, name: str, region: str,
               account: str, ip: str, ua: str, *, read_only: bool,
               req: Record | None = None, resp: Record | None = None,
               error: tuple[str, str] | None = None, event_type: str = "AwsApiCall",
               version: str = "1.09", console: bool = False, tls_on: bool = True,
               additional: Record | None = None, shared_event_id: str | None = None,
               event_id: str | None = None, request_id: str | None = None,
               resources: list[Record] | None = None, api_version: str | None = None) -> Record:
    """A management event (`eventCategory` Management), e.g. GetCallerIdentity, ListUsers,
    CreateAccessKey, AssumeRole, DescribeInstances, ConsoleLogin."""
    r: Record = {"eventVersion": version, "userIdentity": ident, "eventTime": iso(t),
                 "eventSource": source, "eventName": name, "awsRegion": region,
                 "sourceIPAddress": ip, "userAgent": ua}
    if error:
        r["errorCode"], r["errorMessage"] = error
    r["requestParameters"] = req
    r["responseElements"] = resp
    if additional is not None:
        r["additionalEventData"] = additional
    if event_type == "AwsApiCall":
        r["requestID"] = request_id or uuid4(rng)
    r["eventID"] = event_id or uuid4(rng)
    r["readOnly"] = read_only
    if resources is not None:
        r["resources"] = resources
    r["eventType"] = event_type
    if api_version:
        r["apiVersion"] = api_version
    r["managementEvent"] = True
    r["recipientAccountId"] = account
    if shared_event_id:
        r["sharedEventID"] = shared_event_id
    r["eventCategory"] = "Management"
    if console:
        r["sessionCredentialFromConsole"] = "true"
    if tls_on:
        r["tlsDetails"] = tls(host_for(source, region), v13=not console)
    return r


_BUCKET_PARTS: dict[tuple[str, str, str], tuple[str, Record, dict[str, str]]] = {}


def _bucket_parts(bucket: str, region: str, owner: str) -> tuple[str, Record, dict[str, str]]:
    k = (bucket, region, owner)
    got = _BUCKET_PARTS.get(k)
    if got is None:
        host = f"{bucket}.s3.{region}.amazonaws.com"
        got = _BUCKET_PARTS[k] = (
            host, {"accountId": owner, "type": "AWS::S3::Bucket",
                   "ARN": f"arn:aws:s3:::{bucket}"}, tls(host))
    return got


def s3_data(t: int, rng: random.Random, ident: Record, name: str, bucket: str, key: str | None,
            region: str, owner: str, ip: str, ua: str, *, bytes_out: int = 0,
            bytes_in: int = 0, error: tuple[str, str] | None = None, vpce: str | None = None,
            list_prefix: str | None = None, event_id: str | None = None) -> Record:
    """An S3 data event (`eventCategory` Data): GetObject, HeadObject, PutObject, ListObjects,
    ListObjectsV2. `owner` is the bucket owner, which is who receives the record."""
    host, bucket_res, tls_d = _bucket_parts(bucket, region, owner)
    req: Record = {"bucketName": bucket, "Host": host}
    if key is not None:
        req["key"] = key
    elif name.startswith("ListObjects"):
        if name == "ListObjectsV2":
            req["list-type"] = "2"
        req["prefix"] = list_prefix or ""
        req["encoding-type"] = "url"
    r: Record = {"eventVersion": "1.10", "userIdentity": ident, "eventTime": iso(t),
                 "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": region,
                 "sourceIPAddress": ip, "userAgent": ua}
    if error:
        r["errorCode"], r["errorMessage"] = error
        bytes_out = 0
    # One draw for the event id, the request id and the extended request id.
    h = rng.randbytes(52).hex()
    r["requestParameters"] = req
    r["responseElements"] = None
    r["additionalEventData"] = {
        "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": bytes_in, "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": h[48:] + "=", "bytesTransferredOut": bytes_out,
    }
    r["requestID"] = h[32:48].upper()
    r["eventID"] = event_id or (f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-"
                                f"{h[20:32]}")
    r["readOnly"] = name != "PutObject"
    if key is not None:
        r["resources"] = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                          bucket_res]
    else:
        r["resources"] = [bucket_res]
    r["eventType"] = "AwsApiCall"
    r["managementEvent"] = False
    r["recipientAccountId"] = owner
    if vpce:
        r["vpcEndpointId"] = vpce
        r["vpcEndpointAccountId"] = owner
    r["eventCategory"] = "Data"
    r["tlsDetails"] = tls_d
    return r


def service_event(t: int, rng: random.Random, ident: Record, source: str, name: str,
                  region: str, account: str, service: str, *, read_only: bool,
                  req: Record | None = None, resp: Record | None = None,
                  resources: list[Record] | None = None,
                  shared_event_id: str | None = None) -> Record:
    """A call made by an AWS service on the account's behalf: `sourceIPAddress` and
    `userAgent` are the service's name and there are no TLS details (AWS-internal call)."""
    r = management(t, rng, ident, source, name, region, account, service, service,
                   read_only=read_only, req=req, resp=resp, tls_on=False,
                   resources=resources, shared_event_id=shared_event_id)
    return r


def expiration(t: int, seconds: int) -> str:
    """When temporary credentials expire, in STS's response style (`Mar 16, 2026, 6:30:18 AM`)."""
    return create_date(t + seconds)


def create_date(t: int) -> str:
    """`CreateAccessKey`'s response date, in IAM's `Mar 19, 2026, 2:31:07 PM` style."""
    s = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(t))
    # IAM drops the hour's leading zero.
    parts = s.split(", ")
    hh = parts[2]
    if hh.startswith("0"):
        parts[2] = hh[1:]
    return ", ".join(parts)


def session_token(rng: random.Random) -> str:
    return "IQoJb3JpZ2luX2VjE" + f"{rng.getrandbits(200):050x}"[:40] + "..."


def assume_role_elements(t: int, rng: random.Random, role_arn_session: str, role_id: str,
                         session: str, key: str, duration: int) -> Record:
    """`AssumeRole`'s responseElements: the temporary credentials (secret key omitted by
    CloudTrail) and the assumed role user."""
    return {
        "credentials": {"accessKeyId": key, "sessionToken": session_token(rng),
                        "expiration": expiration(t, duration)},
        "assumedRoleUser": {"assumedRoleId": f"{role_id}:{session}", "arn": role_arn_session},
    }


def assume_role(t: int, rng: random.Random, caller: Record, caller_account: str,
                role_account: str, role_name: str, role_id: str, role_arn: str, session: str,
                new_key: str, ip: str, ua: str, region: str, *, duration: int = 3600,
                event_ids: tuple[str, str] | None = None,
                error: tuple[str, str] | None = None) -> list[Record]:
    """`sts:AssumeRole`. Within one account: one record. Across accounts AWS writes the call
    twice: in the caller's account (full caller identity) and in the role's account (caller
    shown as an AWSAccount), with the same `requestID` and `sharedEventID` and distinct
    `eventID`s."""
    session_arn = f"arn:aws:sts::{role_account}:assumed-role/{role_name}/{session}"
    req = {"roleArn": role_arn, "roleSessionName": session, "durationSeconds": duration}
    resp = None if error else assume_role_elements(t, rng, session_arn, role_id, session,
                                                   new_key, duration)
    resources = [{"accountId": role_account, "type": "AWS::IAM::Role", "ARN": role_arn}]
    request_id = uuid4(rng)
    ids = event_ids or (uuid4(rng), uuid4(rng))
    if caller_account == role_account or error:
        return [management(t, rng, caller, "sts.amazonaws.com", "AssumeRole", region,
                           caller_account, ip, ua, read_only=True, req=req, resp=resp,
                           error=error, resources=resources, event_id=ids[0],
                           request_id=request_id)]
    shared = uuid4(rng)
    mine = management(t, rng, caller, "sts.amazonaws.com", "AssumeRole", region, caller_account,
                      ip, ua, read_only=True, req=req, resp=resp, error=error,
                      resources=resources, event_id=ids[0], request_id=request_id,
                      shared_event_id=shared)
    theirs = management(t, rng, aws_account(str(caller.get("principalId")), caller_account),
                        "sts.amazonaws.com", "AssumeRole", region, role_account, ip, ua,
                        read_only=True, req=req, resp=resp, error=error, resources=resources,
                        event_id=ids[1], request_id=request_id, shared_event_id=shared)
    return [mine, theirs]
