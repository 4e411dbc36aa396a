"""ocsf.json: Detection Finding (2004) events valid against the vendored OCSF 1.8.0 schema,
and a validator shown to reject what the schema forbids."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from report.corpus import HOSTILE_UA
from report.ocsf_schema import OcsfSchema
from trailhound.report.ocsf import OCSF_VERSION

SCHEMA_DIR = Path(__file__).parent / "ocsf-schema"


@pytest.fixture(scope="module")
def schema() -> OcsfSchema:
    return OcsfSchema(SCHEMA_DIR)


@pytest.fixture(scope="module")
def events(corpus) -> list[dict]:
    return json.loads((corpus.out / "ocsf.json").read_text())


def test_schema_version_is_the_one_written(schema):
    assert schema.version == OCSF_VERSION == "1.8.0"


def test_every_event_validates(schema, events):
    assert events
    for ev in events:
        assert schema.validate_event(ev, "detection_finding") == [], ev["finding_info"]["uid"]
        assert ev["class_uid"] == 2004 and ev["metadata"]["version"] == OCSF_VERSION


def test_incident_finding_then_one_per_rule(corpus, events):
    inc = corpus.incident
    first = events[0]
    assert first["finding_info"]["uid"] == inc["id"]
    assert first["severity"] == inc["severity"].capitalize()
    assert {a["technique"]["uid"] for a in first["finding_info"]["attacks"]} \
        == set(inc["techniques"])
    assert {o["value"] for o in first["observables"] if o["type_id"] == 2} \
        == set(inc["source_ips"])
    assert HOSTILE_UA in {o["value"] for o in first["observables"] if o["type_id"] == 16}
    keys = {e["actor"]["user"]["credential_uid"] for e in first["evidences"] if "actor" in e
            and "credential_uid" in e["actor"]["user"]}
    assert keys == set(inc["access_keys"])
    buckets = {r["name"]: r for r in first["resources"]}
    for b in inc["resources"]["s3_buckets"]:
        assert buckets[b["name"]]["data"]["bytes_out"] == b["bytes_out"]
    rules = sorted(e["finding_info"]["analytic"]["uid"] for e in events[1:])
    assert rules == sorted(a["rule_id"] for a in inc["alerts"])


@pytest.mark.parametrize("mutate, expected", [
    (lambda e: e.pop("metadata"), "metadata: required attribute missing"),
    (lambda e: e["finding_info"].pop("uid"), "finding_info.uid: required"),
    (lambda e: e.__setitem__("severity_id", 9), "severity_id: 9 not in enum"),
    (lambda e: e.__setitem__("time", "yesterday"), "time: 'yesterday' is not timestamp_t"),
    (lambda e: e.__setitem__("x_custom", 1), "x_custom: not an attribute"),
    (lambda e: e.__setitem__("type_uid", 200402), "type_uid is not"),
    (lambda e: e.__setitem__("severity", "Low"), "is not the caption of severity_id"),
    (lambda e: e["evidences"][0]["actor"].__setitem__("user", {"has_mfa": True}),
     "needs at least one of"),
    (lambda e: e["observables"][0].__setitem__("type_id", 1234), "not an observable type"),
    (lambda e: e["finding_info"].__setitem__("attacks", {"technique": {"uid": "T1"}}),
     "expected an array"),
])
def test_validator_rejects_what_the_schema_forbids(schema, events, mutate, expected):
    ev = copy.deepcopy(events[0])
    mutate(ev)
    errors = schema.validate_event(ev, "detection_finding")
    assert any(expected in e for e in errors), errors
