"""SARIF output validates against the OASIS SARIF 2.1.0 schema and carries what GitHub code
scanning reads."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import orjson
import pytest

from trailhound.cicd import RULES, audit, to_sarif

HERE = Path(__file__).parent
SCHEMA = orjson.loads((HERE / "data" / "sarif-schema-2.1.0.json").read_bytes())


@pytest.fixture(scope="module")
def sarif() -> dict:
    return to_sarif(audit([HERE / "workflows"]))


def test_validates_against_schema(sarif: dict) -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA).validate(sarif)


def test_schema_rejects_broken_output(sarif: dict) -> None:
    broken = orjson.loads(orjson.dumps(sarif))
    broken["runs"][0]["results"][0]["level"] = "critical"  # not a SARIF level
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(broken)


def test_github_fields(sarif: dict) -> None:
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "trailhound"
    assert [r["id"] for r in rules] == list(RULES)
    for r in rules:
        assert r["shortDescription"]["text"] and r["help"]["text"]
        float(r["properties"]["security-severity"])
    assert run["results"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        loc = res["locations"][0]["physicalLocation"]
        assert not loc["artifactLocation"]["uri"].startswith("/")
        assert loc["region"]["startLine"] >= 1
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("malformed.bad.yml" in n["message"]["text"] for n in notes)
