"""Hand-made CloudTrail records in the shapes AWS documents ("CloudTrail record contents",
"userIdentity element", and the example records for IAM, STS and S3 data events).

Small and explicit on purpose: each builder returns one record as AWS writes it, and tests
override what they care about with keyword arguments.
"""

from __future__ import annotations

import gzip
import itertools
import json
import uuid
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
_counter = itertools.count(1)


def eid() -> str:
    return str(uuid.UUID(int=next(_counter) * 7919))


def iam_user_identity(user: str = "ci-deploy", key: str = "AKIAIOSFODNN7EXAMPLE",
                      account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAJ45Q7YFFAREXAMPLE",
        "arn": f"arn:aws:iam::{account}:user/{user}",
        "accountId": account,
        "accessKeyId": key,
        "userName": user,
    }


def assumed_role_identity(role: str = "web-server", session: str = "i-0abcd1234",
                          key: str = "ASIAEXAMPLESESSION01", account: str = ACCOUNT,
                          mfa: str = "false") -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLEID:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-03-19T08:00:00Z", "mfaAuthenticated": mfa},
        },
    }


def record(event_name: str, *, source: str = "iam.amazonaws.com",
           identity: dict[str, Any] | None = None, time: str = "2026-03-19T10:00:00Z",
           ip: str = "198.51.100.10", ua: str = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
           request: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
           account: str = ACCOUNT, region: str = "eu-west-1", read_only: bool = False,
           **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity or iam_user_identity(account=account),
        "eventTime": time,
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": eid(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{source.split('.')[0]}.amazonaws.com"},
    }
    rec.update(extra)
    return rec


def get_caller_identity(**kw: Any) -> dict[str, Any]:
    kw.setdefault("read_only", True)
    return record("GetCallerIdentity", source="sts.amazonaws.com", **kw)


def create_access_key(target_user: str, new_key: str, **kw: Any) -> dict[str, Any]:
    return record(
        "CreateAccessKey",
        request={"userName": target_user},
        response={"accessKey": {"accessKeyId": new_key, "status": "Active",
                                "userName": target_user,
                                "createDate": "Mar 19, 2026 10:00:00 AM"}},
        **kw,
    )


def assume_role(role_arn: str, session_name: str, session_key: str, **kw: Any
                ) -> dict[str, Any]:
    account = role_arn.split(":")[4]
    role = role_arn.rsplit("/", 1)[-1]
    return record(
        "AssumeRole",
        source="sts.amazonaws.com",
        request={"roleArn": role_arn, "roleSessionName": session_name, "durationSeconds": 3600},
        response={
            "credentials": {"accessKeyId": session_key, "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                            "expiration": "Mar 19, 2026 11:00:00 AM"},
            "assumedRoleUser": {"assumedRoleId": f"AROAEXAMPLE:{session_name}",
                                "arn": f"arn:aws:sts::{account}:assumed-role/{role}/"
                                       f"{session_name}"},
        },
        read_only=True,
        **kw,
    )


def get_object(bucket: str, key: str, nbytes: int, **kw: Any) -> dict[str, Any]:
    account = kw.pop("account", ACCOUNT)
    rec = record(
        "GetObject",
        source="s3.amazonaws.com",
        request={"bucketName": bucket, "Host": f"{bucket}.s3.eu-west-1.amazonaws.com",
                 "key": key},
        account=account,
        read_only=True,
        additionalEventData={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                             "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                             "x-amz-id-2": "EXAMPLEid2", "bytesTransferredOut": nbytes},
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        **kw,
    )
    rec["eventCategory"] = "Data"
    rec["managementEvent"] = False
    return rec


def write_aws_layout(root: Path, records: list[dict[str, Any]], *, account: str = ACCOUNT,
                     region: str = "eu-west-1", per_file: int = 50, org: str | None = None,
                     stamp: str = "20260319T1000Z") -> list[Path]:
    """Write records as CloudTrail delivers them: gzip'd {"Records": [...]} files."""
    base = root / "AWSLogs"
    if org:
        base = base / org
    day = base / account / "CloudTrail" / region / "2026" / "03" / "19"
    day.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(0, max(len(records), 1), per_file):
        chunk = records[n:n + per_file]
        p = day / f"{account}_CloudTrail_{region}_{stamp}_{n:016d}.json.gz"
        p.write_bytes(gzip.compress(json.dumps({"Records": chunk},
                                               separators=(",", ":")).encode()))
        paths.append(p)
    return paths
