"""normalize: every identity type and the lifted fields, through the same SQL ingest uses."""

from __future__ import annotations

import datetime as dt

import pytest

import cloudtrail as ct
from trailhound.normalize import COLUMN_NAMES, records_relation
from trailhound.store.engine import new_connection


def rows(records):
    conn = new_connection()
    rel = records_relation(conn, records)
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def one(record):
    (row,) = rows([record])
    return row


def test_schema_has_architecture_columns():
    for name in ("event_id", "event_time", "identity_type", "principal_arn", "access_key_id",
                 "bytes_out", "created_access_key_id", "session_access_key_id",
                 "assumed_role_arn", "target_user", "bucket", "object_key", "raw"):
        assert name in COLUMN_NAMES


def test_iam_user_event():
    r = one(ct.get_caller_identity(identity=ct.iam_user_identity("ci", "AKIAEXAMPLE000000001")))
    assert r["reject"] is None
    assert r["identity_type"] == "IAMUser"
    assert r["principal_arn"] == "arn:aws:iam::111122223333:user/ci"
    assert r["access_key_id"] == "AKIAEXAMPLE000000001"
    assert r["user_name"] == "ci"
    assert r["event_time"] == dt.datetime(2026, 3, 19, 10, 0, 0)
    assert r["read_only"] is True
    assert r["account"] == "111122223333"
    assert r["date"] == dt.date(2026, 3, 19)


def test_assumed_role_session_context():
    r = one(ct.record("DescribeInstances", source="ec2.amazonaws.com",
                      identity=ct.assumed_role_identity("web", "i-0abc", mfa="true")))
    assert r["identity_type"] == "AssumedRole"
    assert r["session_issuer_arn"] == "arn:aws:iam::111122223333:role/web"
    assert r["user_name"] == "web"
    assert r["mfa_authenticated"] is True
    assert r["session_creation_date"] == dt.datetime(2026, 3, 19, 8, 0)


@pytest.mark.parametrize(
    "identity",
    [
        {"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root",
         "accountId": "111122223333", "accessKeyId": "ASIAROOTEXAMPLE00001"},
        {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
        {"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": "444455556666"},
        {"type": "FederatedUser", "principalId": "111122223333:bob",
         "arn": "arn:aws:sts::111122223333:federated-user/bob", "accountId": "111122223333",
         "accessKeyId": "ASIAFEDEXAMPLE000001",
         "sessionContext": {"sessionIssuer": {"type": "IAMUser", "userName": "broker",
                                              "arn": "arn:aws:iam::111122223333:user/broker"},
                            "attributes": {"mfaAuthenticated": "false",
                                           "creationDate": "2026-03-19T09:00:00Z"}}},
        {"type": "IdentityCenterUser", "accountId": "111122223333",
         "onBehalfOf": {"userId": "9067-EXAMPLE", "identityStoreArn": "arn:aws:identitystore::1"},
         "credentialId": "EXAMPLEcredential"},
        {"type": "Unknown", "principalId": "", "accountId": "111122223333", "userName": "x"},
    ],
    ids=lambda i: i["type"],
)
def test_every_identity_type_normalizes(identity):
    r = one(ct.record("ListBuckets", source="s3.amazonaws.com", identity=identity))
    assert r["reject"] is None
    assert r["identity_type"] == identity["type"]
    assert r["invoked_by"] == identity.get("invokedBy")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-19T10:00:00Z", dt.datetime(2026, 3, 19, 10, 0, 0)),
        ("2026-03-19T10:00:00.123Z", dt.datetime(2026, 3, 19, 10, 0, 0, 123000)),
        ("2026-03-19T12:00:00+02:00", dt.datetime(2026, 3, 19, 10, 0, 0)),
        ("2024-02-29T23:59:59Z", dt.datetime(2024, 2, 29, 23, 59, 59)),
    ],
)
def test_event_time_formats_become_utc(text, expected):
    assert one(ct.record("ListUsers", time=text))["event_time"] == expected


def test_lifted_create_access_key():
    r = one(ct.create_access_key("web-admin", "AKIANEWKEYEXAMPLE001"))
    assert r["target_user"] == "web-admin"
    assert r["created_access_key_id"] == "AKIANEWKEYEXAMPLE001"


def test_lifted_assume_role():
    r = one(ct.assume_role("arn:aws:iam::444455556666:role/ops", "x1", "ASIASESSIONEXAMPLE01"))
    assert r["session_access_key_id"] == "ASIASESSIONEXAMPLE01"
    assert r["assumed_role_arn"] == "arn:aws:sts::444455556666:assumed-role/ops/x1"


def test_lifted_get_session_token_and_federation_token():
    gst = ct.record("GetSessionToken", source="sts.amazonaws.com",
                    response={"credentials": {"accessKeyId": "ASIAGSTEXAMPLE000001",
                                              "sessionToken": "t", "expiration": "x"}})
    gft = ct.record("GetFederationToken", source="sts.amazonaws.com",
                    request={"name": "bob"},
                    response={"credentials": {"accessKeyId": "ASIAGFTEXAMPLE000001",
                                              "sessionToken": "t", "expiration": "x"},
                              "federatedUser": {"federatedUserId": "111122223333:bob",
                                                "arn": "arn:aws:sts::111122223333:"
                                                       "federated-user/bob"}})
    a, b = rows([gst, gft])
    assert a["session_access_key_id"] == "ASIAGSTEXAMPLE000001"
    assert b["session_access_key_id"] == "ASIAGFTEXAMPLE000001"
    assert b["assumed_role_arn"] == "arn:aws:sts::111122223333:federated-user/bob"


def test_lifted_s3_data_event_bytes():
    r = one(ct.get_object("tenant-a-data", "db/dump.sql.gz", 1048576))
    assert (r["bucket"], r["object_key"], r["bytes_out"], r["bytes_in"]) == (
        "tenant-a-data", "db/dump.sql.gz", 1048576, 0)
    float_bytes = ct.get_object("b", "k", 0)
    float_bytes["additionalEventData"]["bytesTransferredOut"] = 512.0
    assert one(float_bytes)["bytes_out"] == 512


def test_missing_optional_fields_are_null():
    rec = {"eventID": "e-1", "eventTime": "2026-03-19T10:00:00Z", "eventName": "X"}
    r = one(rec)
    assert r["reject"] is None
    assert r["event_source"] is None and r["principal_arn"] is None
    assert r["account"] == "unknown"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"eventTime": "2026-03-19T10:00:00Z", "eventName": "X"}, "record has no eventID"),
        ({"eventID": "e-2", "eventName": "X"}, "record has no eventTime"),
        ({"eventID": "e-3", "eventTime": "yesterday"}, "eventTime is not an ISO-8601 timestamp"),
        ([1, 2], "record is not a JSON object"),
    ],
)
def test_bad_records_carry_a_reason(record, reason):
    assert one(record)["reject"] == reason


def test_retyped_fields_do_not_break_the_row():
    rec = ct.record("ListUsers")
    rec["userIdentity"] = "not an object"
    rec["readOnly"] = {"x": 1}
    r = one(rec)
    assert r["reject"] is None
    assert r["principal_arn"] is None and r["read_only"] is None


def test_raw_keeps_every_field():
    import json

    rec = ct.record("ListUsers", customField={"nested": ["a", "b"]})
    assert json.loads(one(rec)["raw"])["customField"] == {"nested": ["a", "b"]}
