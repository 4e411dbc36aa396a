"""`investigate`: lineage, timeline, APIs, addresses, buckets and tenants of a key, principal,
IP or incident, checked against the simulator's truth and the hunt's incident; the CLI's JSON
and table output, with a hostile record in the data."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from report.corpus import (
    HOSTILE_BUCKET,
    HOSTILE_BYTES,
    HOSTILE_KEY,
    HOSTILE_TENANT,
    HOSTILE_UA,
    Corpus,
    build,
)
from trailhound.errors import UsageError
from trailhound.investigate import Subject, investigate_store

TOP_KEYS = ["schema_version", "query", "incident", "summary", "lineage", "timeline", "apis",
            "source_ips", "user_agents", "buckets", "objects", "tenants", "incidents"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build(tmp_path_factory.getbasetemp() / "report-corpus")


@pytest.fixture(scope="module")
def by_incident(corpus: Corpus) -> dict:
    return investigate_store(corpus.store, Subject("incident", corpus.incident["id"][:8]))


def test_incident_lineage_is_the_stolen_key_and_the_key_it_created(corpus, by_incident):
    lin = by_incident["lineage"]
    root = corpus.truth["attack"]["root_access_key"]
    assert lin["keys"][0]["key"] == root and lin["keys"][0]["via"] == "seed"
    edge = next(e for e in lin["edges"] if e["to"] == corpus.created_key)
    assert edge["from"] == root and edge["relation"] == "created-key"
    assert edge["api"] == "CreateAccessKey"
    node = next(n for n in lin["keys"] if n["key"] == corpus.created_key)
    assert node["principal"].endswith(f":user/{edge['user']}")
    assert node["principal"] in corpus.incident["principals"]
    assert node["parent"] == root
    # every event of the created key is the attacker's; the stolen key also has its owner's use
    assert node["attacker_events"] == node["events"] > 0
    stolen = lin["keys"][0]
    assert 0 < stolen["attacker_events"] < stolen["events"]


def test_incident_summary_agrees_with_the_hunt(corpus, by_incident):
    inc, s = corpus.incident, by_incident["summary"]
    assert by_incident["incident"]["id"] == inc["id"]
    assert s["attacker_first_seen"] == inc["first_seen"]
    assert s["attacker_last_seen"] == inc["last_seen"]
    assert s["attacker_events"] == inc["attacker_event_count"]
    assert s["attacker_bytes_out"] == inc["bytes_out"]
    # the owner's use of the stolen key is there too, before the theft
    assert s["other_events"] > 0 and s["first_seen"] < inc["first_seen"]
    hourly = by_incident["timeline"]["hourly"]
    assert sum(h["attacker"] for h in hourly) == s["attacker_events"]
    assert sum(h["attacker"] + h["shared"] + h["other"] for h in hourly) == s["events"]


def test_incident_buckets_and_tenants(corpus, by_incident):
    mine = {b["bucket"]: b for b in by_incident["buckets"]}
    for b in corpus.incident["resources"]["s3_buckets"]:
        got = mine[b["name"]]
        assert got["attacker_bytes_out"] == b["bytes_out"]
        assert got["attacker_objects_read"] == b["objects_read"]
        assert got["tenant"] == b["tenant"]
    assert mine[HOSTILE_BUCKET]["bytes_out"] == HOSTILE_BYTES
    objects = by_incident["objects"]
    assert [o["bytes_out"] for o in objects] == sorted((o["bytes_out"] for o in objects),
                                                        reverse=True)
    assert objects[0]["bytes_out"] == max(o["bytes_out"] for o in objects) > 0
    at = datetime.fromisoformat(corpus.hostile_time.replace("Z", "+00:00"))
    moment = investigate_store(corpus.store, Subject("key", corpus.created_key, at, at))
    (hostile,) = [o for o in moment["objects"] if o["bucket"] == HOSTILE_BUCKET]
    assert hostile["key"] == HOSTILE_KEY and hostile["bytes_out"] == HOSTILE_BYTES
    assert hostile["attacker_reads"] == hostile["reads"] == 1
    tenants = {t["tenant"]: t for t in by_incident["tenants"]}
    assert tenants[HOSTILE_TENANT]["buckets"] == [HOSTILE_BUCKET]
    planted = {b["tenant"] for b in corpus.truth["attack"]["s3_buckets"]}
    assert planted <= set(tenants)


def test_incident_addresses_and_agents(corpus, by_incident):
    attacker_ips = {v["value"] for v in by_incident["source_ips"] if v["attacker_events"]}
    assert attacker_ips == set(corpus.incident["source_ips"])
    owner_ips = set(corpus.truth["attack"]["legitimate_ips_of_stolen_key"])
    others = {v["value"] for v in by_incident["source_ips"] if not v["attacker_events"]}
    assert owner_ips <= others
    firsts = [v["first_seen"] for v in by_incident["source_ips"]]
    assert firsts == sorted(firsts)
    assert HOSTILE_UA in {v["value"] for v in by_incident["user_agents"]}


def test_apis_carry_outcomes(by_incident):
    get = next(a for a in by_incident["apis"] if a["event_name"] == "GetObject")
    assert get["calls"] == get["succeeded"] + get["failed"]
    assert get["attacker_calls"] > 0
    assert all(a["error_codes"] for a in by_incident["apis"] if a["failed"])
    create = next(a for a in by_incident["apis"] if a["event_name"] == "CreateAccessKey")
    assert create["attacker_calls"] >= 1


def test_key_ip_and_principal_subjects(corpus):
    by_key = investigate_store(corpus.store, Subject("key", corpus.created_key))
    assert [n["key"] for n in by_key["lineage"]["keys"]] == [corpus.created_key]
    assert by_key["summary"]["events"] == by_key["summary"]["attacker_events"] > 0
    assert by_key["incidents"] == [corpus.incident["id"]]

    by_ip = investigate_store(corpus.store, Subject("ip", corpus.attacker_ip))
    assert [v["value"] for v in by_ip["source_ips"]] == [corpus.attacker_ip]
    assert by_ip["summary"]["events"] > 0

    principal = next(n["principal"] for n in investigate_store(
        corpus.store, Subject("key", corpus.created_key))["lineage"]["keys"])
    by_p = investigate_store(corpus.store, Subject("principal", principal))
    assert corpus.created_key in [n["key"] for n in by_p["lineage"]["keys"]]
    assert principal in by_p["summary"]["principals"]

    nothing = investigate_store(corpus.store, Subject("key", "AKIANOTINTHESTORE000"))
    assert nothing["summary"]["events"] == 0 and nothing["lineage"]["edges"] == []


def test_time_window_limits_every_answer(corpus):
    since, until = datetime(2026, 3, 18), datetime(2026, 3, 19, 12)
    doc = investigate_store(corpus.store, Subject("incident", corpus.incident["id"],
                                                  since, until))
    hours = [h["hour"] for h in doc["timeline"]["hourly"]]
    assert hours and hours[0] >= "2026-03-18T00" and hours[-1] <= "2026-03-19T12"
    full = investigate_store(corpus.store, Subject("incident", corpus.incident["id"]))
    assert 0 < doc["summary"]["events"] < full["summary"]["events"]
    assert doc["query"]["since"] == "2026-03-18T00:00:00Z"
    with pytest.raises(UsageError):
        Subject("key", "AKIA", until, since)


def test_unknown_or_ambiguous_incident_is_a_usage_error(corpus):
    with pytest.raises(UsageError, match="no incident"):
        investigate_store(corpus.store, Subject("incident", "INC-NOPE"))
    if len(orjson.loads((corpus.store / "incidents.json").read_bytes())["incidents"]) > 1:
        with pytest.raises(UsageError, match="ambiguous"):
            investigate_store(corpus.store, Subject("incident", "INC-"))


def test_cli_json_is_stable_and_raw(corpus, cli):
    code, out, err = cli("investigate", "--store", str(corpus.store), "--incident",
                         corpus.incident["id"], "--format", "json")
    assert code == 0, err
    doc = orjson.loads(out)
    assert list(doc) == TOP_KEYS and doc["schema_version"] == 1
    assert list(doc["summary"]) == [
        "events", "attacker_events", "shared_events", "other_events", "first_seen",
        "last_seen", "attacker_first_seen", "attacker_last_seen", "accounts", "principals",
        "bytes_out", "attacker_bytes_out"]
    # JSON keeps log values exactly (scripts get the raw value, JSON-escaped)
    assert HOSTILE_UA in {v["value"] for v in doc["user_agents"]}
    _, out2, _ = cli("investigate", "--store", str(corpus.store), "--incident",
                         corpus.incident["id"], "--format", "json")
    assert orjson.loads(out2) == doc


def test_cli_table_is_inert(corpus, cli):
    code, out, err = cli("investigate", "--store", str(corpus.store), "--key",
                         corpus.created_key)
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "\\u202e" in out  # made visible, not dropped
    assert "lineage" in out and corpus.created_key in out


@pytest.mark.parametrize("args, message", [
    ((), "exactly one of"),
    (("--key", "AKIA1", "--ip", "1.2.3.4"), "exactly one of"),
    (("--key", "AKIA1", "--since", "yesterday"), "--since"),
])
def test_cli_usage_errors(corpus, cli, args, message):
    code, _, err = cli("investigate", "--store", str(corpus.store), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_store_missing(cli, tmp_path):
    code, _, err = cli("investigate", "--store", str(tmp_path / "none"), "--ip", "1.2.3.4")
    assert code == 2 and "not a trailhound store" in err
