"""stix.json: a valid STIX 2.1 bundle (strict stix2 parse, patterns by the STIX pattern
validator) that carries the incident, its indicators, keys, techniques and sightings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import stix2
from stix2patterns.pattern import Pattern
from stix2patterns.validator import run_validator

from report.corpus import HOSTILE_UA
from trailhound.report.stix import pattern_literal


@pytest.fixture(scope="module")
def bundle(corpus) -> dict:
    text = (corpus.out / "stix.json").read_text()
    stix2.parse(text, allow_custom=False)  # raises on any invalid object
    return json.loads(text)


def _unliteral(lit: str) -> str:
    assert lit[0] == lit[-1] == "'"
    return re.sub(r"\\(.)", r"\1", lit[1:-1])


def test_bundle_has_every_kind_of_object(bundle):
    kinds = {o["type"] for o in bundle["objects"]}
    assert {"identity", "incident", "indicator", "attack-pattern", "sighting", "relationship",
            "observed-data", "user-account", "ipv4-addr"} <= kinds
    producer = [o for o in bundle["objects"] if o["type"] == "identity"
                and o["name"] == "trailhound"]
    assert len(producer) == 1 and producer[0]["identity_class"] == "system"


def test_incident_and_attack_patterns(corpus, bundle):
    inc = corpus.incident
    incidents = [o for o in bundle["objects"] if o["type"] == "incident"]
    assert [i["external_references"][0]["external_id"] for i in incidents] == [inc["id"]]
    aps = [o for o in bundle["objects"] if o["type"] == "attack-pattern"]
    ids = sorted(r["external_id"] for ap in aps for r in ap["external_references"]
                 if r["source_name"] == "mitre-attack")
    assert ids == sorted(inc["techniques"])
    assert all(r["url"].startswith("https://attack.mitre.org/techniques/T")
               for ap in aps for r in ap["external_references"])


def test_indicators_cover_ips_agents_and_keys(corpus, bundle):
    inc = corpus.incident
    values: dict[str, set[str]] = {}
    for o in bundle["objects"]:
        if o["type"] != "indicator":
            continue
        assert run_validator(o["pattern"], stix_version="2.1") == [], o["pattern"]
        for obj, comps in Pattern(o["pattern"]).inspect().comparisons.items():
            for path, op, lit in comps:
                assert op == "="
                values.setdefault(f"{obj}:{'.'.join(path)}", set()).add(_unliteral(lit))
    assert values["ipv4-addr:value"] == set(inc["source_ips"])
    ua_path = "network-traffic:extensions.http-request-ext.request_header.User-Agent"
    assert values[ua_path] == set(inc["user_agents"])
    assert HOSTILE_UA in values[ua_path]  # quotes and backslashes survived the round trip
    assert values["user-account:user_id"] == set(inc["access_keys"])
    accounts = {o["user_id"]: o for o in bundle["objects"] if o["type"] == "user-account"}
    assert set(accounts) == set(inc["access_keys"])
    assert accounts[corpus.created_key]["account_type"] == "aws-access-key"


def test_references_resolve_and_sightings_count(corpus, bundle):
    by_id = {o["id"]: o for o in bundle["objects"]}
    for o in bundle["objects"]:
        for k, v in o.items():
            refs = v if k.endswith("_refs") else [v] if k.endswith("_ref") else []
            for r in refs:
                assert r in by_id, f"{o['id']}.{k} -> {r} missing"
    sightings = [o for o in bundle["objects"] if o["type"] == "sighting"]
    indicators = {o["id"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert {s["sighting_of_ref"] for s in sightings} == indicators
    assert all(s["first_seen"].startswith(corpus.incident["first_seen"][:19])
               for s in sightings)
    rels = {(by_id[r["source_ref"]]["type"], r["relationship_type"],
             by_id[r["target_ref"]]["type"]) for r in bundle["objects"]
            if r["type"] == "relationship"}
    assert ("indicator", "indicates", "attack-pattern") in rels
    assert ("incident", "related-to", "indicator") in rels


@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", "\\'", "']OR[x:y='",
                                   "\x1b[31m\u202e</script>"])
def test_pattern_literal_escapes_per_the_grammar(value):
    pattern = f"[ipv4-addr:value = {pattern_literal(value)}]"
    assert run_validator(pattern, stix_version="2.1") == []
    (comp,) = Pattern(pattern).inspect().comparisons["ipv4-addr"]
    assert _unliteral(comp[2]) == value


def test_ids_are_stable_across_runs(corpus):
    from trailhound.report.stix import build_bundle

    now = datetime(2026, 3, 25, tzinfo=UTC)
    a, b = build_bundle(corpus.result, now=now), build_bundle(corpus.result, now=now)
    assert len(a.objects) > 20
    assert a.id == b.id and [o.id for o in a.objects] == [o.id for o in b.objects]
    assert len({o.id for o in a.objects}) == len(a.objects)  # no two objects share an id
