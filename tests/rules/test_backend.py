"""The DuckDB Sigma backend: modifiers, case-insensitivity, NULL semantics, escaping."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

from trailhound.errors import RuleError
from trailhound.rules.detection import detection_where
from trailhound.rules.selftest import events_connection, expand


def matches(detection: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    """eventIDs of the records the detection selects, in input order."""
    where = detection_where(detection)
    conn = events_connection(expand(records, "e"))
    rows = conn.execute(f"SELECT event_id FROM events WHERE {where} ORDER BY event_id").fetchall()
    return [r[0] for r in rows]


def rec(eid: str, **kw: Any) -> dict[str, Any]:
    base = {"eventID": eid, "eventTime": "2026-03-19T10:00:00Z", "eventSource": "iam.amazonaws.com",
            "eventName": "ListUsers", "userAgent": "aws-cli/2.15.0",
            "sourceIPAddress": "198.51.100.7",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice",
                             "accessKeyId": "AKIA1", "userName": "alice"}}
    base.update(kw)
    return base


def test_plain_value_is_case_insensitive():
    recs = [rec("a", additionalEventData={"MFAUsed": "NO"}),
            rec("b", additionalEventData={"MFAUsed": "no"}),
            rec("c", additionalEventData={"MFAUsed": "Yes"})]
    assert matches({"additionalEventData.MFAUsed": "No"}, recs) == ["a", "b"]
    assert matches({"eventName": "listusers"}, recs) == ["a", "b", "c"]


def test_cased_modifier_keeps_case():
    recs = [rec("a", userAgent="TruffleHog"), rec("b", userAgent="trufflehog")]
    assert matches({"userAgent|cased": "TruffleHog"}, recs) == ["a"]


@pytest.mark.parametrize(("det", "expected"), [
    ({"userAgent|contains": "CLI/2"}, ["a", "b"]),
    ({"userAgent|startswith": "aws-cli"}, ["a", "b"]),
    ({"userAgent|endswith": "python/3.11"}, ["b"]),
    ({"userAgent|contains|all": ["aws", "python"]}, ["b"]),
    ({"userAgent|contains": ["boto3", "terraform"]}, ["c"]),
    ({"userAgent": "aws-cli/?.15.0"}, ["a"]),
    ({"userAgent": "*cli*python*"}, ["b"]),
    ({"userAgent|re": "^aws-cli/2\\.[0-9]+\\.0$"}, ["a"]),
    ({"userAgent|re|i": "^TERRAFORM"}, ["c"]),
    ({"sourceIPAddress|cidr": "10.0.0.0/8"}, ["b"]),
    ({"sourceIPAddress|cidr": "203.0.113.0/25"}, ["c"]),
    ({"sourceIPAddress|cidr": "2001:db8::/32"}, []),
    ({"errorCode|exists": True}, ["c"]),
    ({"errorCode|exists": False}, ["a", "b"]),
    ({"errorCode": None}, ["a", "b"]),
    ({"requestParameters.userName": ["bob", "carol"]}, ["b", "c"]),
    ({"requestParameters.userName|fieldref": "userIdentity.userName"}, ["a"]),
    ({"readOnly": True}, ["a"]),
    ({"requestParameters.maxItems|gte": 100}, ["c"]),
    ({"requestParameters.maxItems": 100}, ["c"]),
])
def test_modifiers(det, expected):
    recs = [
        rec("a", userAgent="aws-cli/2.15.0", sourceIPAddress="198.51.100.7", readOnly=True,
            requestParameters={"userName": "alice"}),
        rec("b", userAgent="aws-cli/2.13.5 Python/3.11", sourceIPAddress="10.1.2.3",
            readOnly=False, requestParameters={"userName": "bob"}),
        rec("c", userAgent="Terraform/1.5 boto3", sourceIPAddress="203.0.113.9",
            errorCode="AccessDenied", requestParameters={"userName": "carol", "maxItems": 100}),
    ]
    assert matches(det, recs) == expected


def test_keywords_search_the_whole_record():
    recs = [rec("a", requestParameters={"policyDocument": "s3:*"}), rec("b")]
    det = {"keywords": ["S3:*"], "condition": "keywords"}
    # `*` is a Sigma wildcard: "S3:" followed by anything, anywhere in the record.
    assert matches(det, recs) == ["a"]


def test_not_of_missing_field_matches():
    """`not filter` must hold when the filter's field is absent (SQL NULL would drop it)."""
    recs = [rec("a"), rec("b", errorCode="AccessDenied")]
    det = {"sel": {"eventName": "ListUsers"}, "filter": {"errorCode": "AccessDenied"},
           "condition": "sel and not filter"}
    assert matches(det, recs) == ["a"]


HOSTILE = [
    "it's",
    "100%",
    "a_b",
    "back\\slash",
    "quote\"d",
    "'; DROP TABLE events; --",
    "ünïcødé ☃ \u202eevil",
    "%_\\'",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_rule_values_are_literals(value):
    """Rule values with quotes, LIKE metacharacters and backslashes match only themselves."""
    recs = [rec("a", userAgent=value), rec("b", userAgent="x" + value + "y"),
            rec("c", userAgent="plain"), rec("d", userAgent="100x"), rec("e", userAgent="axb")]
    assert matches({"userAgent": value}, recs) == ["a"]
    assert matches({"userAgent|contains": value}, recs) == ["a", "b"]
    assert matches({"userAgent|startswith": value}, recs) == ["a"]
    assert matches({"userAgent|endswith": value}, recs) == ["a"]
    # With a wildcard the backend needs ILIKE: `%`, `_` and `\` in the value must stay literal.
    decoy = "x" + value.replace("%", "ZZ").replace("_", "Q").replace("\\", "") + "y"
    recs.append(rec("f", userAgent=decoy))
    expected = ["b", "f"] if decoy == "x" + value + "y" else ["b"]
    assert matches({"userAgent": "x*" + value + "y"}, recs) == expected


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_log_values_do_not_break_queries(value):
    """Log values never become SQL: records carrying hostile text in every string field the
    rules read are matched like any other text."""
    recs = [rec("a", userAgent=value, requestParameters={"userName": value, "k": value},
                errorMessage=value, sourceIPAddress=value)]
    assert matches({"userAgent|contains": "'"}, recs) == (["a"] if "'" in value else [])
    assert matches({"requestParameters.userName": value}, recs) == ["a"]
    assert matches({"eventName": "ListUsers", "errorMessage|exists": True}, recs) == ["a"]


def test_nul_in_rule_value_is_refused():
    with pytest.raises(RuleError):
        detection_where({"userAgent": "a\x00b"})


def test_field_names_cannot_inject():
    with pytest.raises(RuleError):
        detection_where({"userAgent') OR true --": "x"})


def test_or_list_becomes_in():
    where = detection_where({"eventName": ["StopLogging", "DeleteTrail"]})
    assert "IN ('stoplogging', 'deletetrail')" in where


def test_not_survives_transpilation():
    """SQLGlot rewrites `x IS NOT TRUE` to `NOT x`; the coalesce form keeps NULL semantics."""
    where = detection_where({"sel": {"eventName": "A"}, "f": {"errorCode": "X"},
                             "condition": "sel and not f"})
    for d in ("spark", "trino", "athena"):
        out = sqlglot.transpile(f"SELECT 1 FROM events WHERE {where}", read="duckdb", write=d)[0]
        assert "COALESCE" in out.upper()


@pytest.mark.parametrize(("pattern", "literal"), [
    (".+:assumed-role/aws:.+", ":assumed-role/aws:"),
    ("ab?cdef", "cdef"),
    ("a|b", None),
    ("(?i)TERRAFORM", None),
    ("x[0-9]+abc", None),
])
def test_regex_prefilter_literal_is_required(pattern, literal):
    from trailhound.rules.sigma_backend import required_literal

    assert required_literal(pattern) == literal


def test_regex_with_prefilter_still_matches_exactly():
    recs = [rec("a", userIdentity={"type": "AssumedRole", "accessKeyId": "ASIA1",
                                   "arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}),
            rec("b", userIdentity={"type": "AssumedRole", "accessKeyId": "ASIA2",
                                   "arn": ":assumed-role/aws:"})]
    assert matches({"userIdentity.arn|re": ".+:assumed-role/aws:.+"}, recs) == ["a"]
