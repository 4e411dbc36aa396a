"""detect(): grouping, overrides, the noisy published rule, timing, and the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules.rulehelp import SIGMA_DIR
from trailhound.rules import detect, load_rules
from trailhound.rules.loader import load_file
from trailhound.rules.model import RuleSet
from trailhound.rules.run import run_rule
from trailhound.rules.selftest import events_connection, expand
from trailhound.rules.timerange import TimeRange

ASSUMED = {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/web/i-{n}",
           "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::1:role/web"}}}


def _session_calls(n_sessions: int, per_session: int) -> list[dict]:
    out = []
    for s in range(n_sessions):
        ui = {**ASSUMED, "arn": ASSUMED["arn"].format(n=s), "accessKeyId": f"ASIA{s:016d}"}
        for k in range(per_session):
            out.append({"eventTime": f"2026-03-19T{(s * per_session + k) // 60 % 24:02d}:"
                                     f"{(s * per_session + k) % 60:02d}:00Z",
                        "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                        "userIdentity": ui})
    return out


def test_noisy_assumerole_rule_is_grouped_per_role_and_day():
    """~all calls match aws_sts_assumerole_misuse; the shipped tuning groups them per role
    and day, so 40 sessions x 25 calls give one alert that lists every event."""
    rules, _ = load_file(SIGMA_DIR / "aws_sts_assumerole_misuse.yml", origin="sigmahq")
    from trailhound.rules.overrides import apply_overrides, default_tuning

    tuned, _ = apply_overrides(rules, default_tuning())
    conn = events_connection(expand(_session_calls(40, 25), "n"))
    res = detect(conn, RuleSet(tuple(tuned)))
    assert len(res.alerts) == 1
    a = res.alerts[0]
    assert a.count == 1000 and len(a.event_ids) == 1000
    assert a.severity == "low"
    # SigmaHQ's DRL 1.1: a message based on a match keeps the rule's author.
    assert a.author == rules[0].author and "Austin Songer" in a.to_dict()["author"]
    untuned = detect(conn, RuleSet(tuple(rules)))
    assert len(untuned.alerts) >= 40  # at least one per session key without tuning


def test_grouping_by_key_and_window():
    rs = load_rules(include_sigma=False)
    rule = rs.get("credential_access_validator_user_agent")
    recs = []
    for key, hour in [("AKIAA", 9), ("AKIAA", 9), ("AKIAA", 11), ("AKIAB", 9)]:
        recs.append({"eventTime": f"2026-03-19T{hour:02d}:10:00Z",
                     "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
                     "userAgent": "TruffleHog",
                     "sourceIPAddress": "203.0.113.5",
                     "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::1:user/{key}",
                                      "accessKeyId": key}})
    res = detect(events_connection(expand(recs, "g")), RuleSet((rule,)))
    got = sorted((a.access_key_id, a.count) for a in res.alerts)
    assert got == [("AKIAA", 1), ("AKIAA", 2), ("AKIAB", 1)]
    d = res.alerts[0].to_dict()
    assert set(d) == {"rule_id", "title", "severity", "stage", "techniques", "event_ids",
                      "event_time", "last_event_time", "access_key_id", "principal_arn",
                      "source_ip", "account", "count", "incident_id", "author"}
    assert d["incident_id"] is None and d["event_time"].endswith("Z")
    assert d["techniques"] == ["T1078.004", "T1087.004"]
    assert set(res.timings) == {rule.id}


def test_overrides_disable_level_filters(tmp_path):
    ov = tmp_path / "tuning.yml"
    ov.write_text(
        "rules:\n"
        "  credential_access_validator_user_agent:\n"
        "    level: high\n"
        "    filters:\n"
        "      - sourceIPAddress|cidr: 10.0.0.0/8\n"
        "  discovery_offensive_tool_user_agent:\n"
        "    disable: true\n"
        "  no_such_rule: {disable: true}\n")
    rs = load_rules(include_sigma=False, overrides=ov)
    assert not rs.get("discovery_offensive_tool_user_agent").enabled
    rule = rs.get("credential_access_validator_user_agent")
    assert rule.severity == "high"
    assert ("overrides:no_such_rule", "no loaded rule has this id") in rs.skipped
    recs = [{"eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
             "userAgent": "TruffleHog", "sourceIPAddress": ip,
             "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/s",
                              "accessKeyId": "AKIAS"}} for ip in ("10.1.2.3", "203.0.113.9")]
    res = detect(events_connection(expand(recs, "o")), RuleSet((rule,)))
    assert [a.source_ip for a in res.alerts] == ["203.0.113.9"]


def test_bad_overrides_are_a_rule_error(tmp_path):
    from trailhound.errors import RuleError

    ov = tmp_path / "bad.yml"
    ov.write_text("rules:\n  x: {level: severe, colour: red}\n")
    with pytest.raises(RuleError) as e:
        load_rules(include_sigma=False, overrides=ov)
    assert "level" in str(e.value) and "colour" in str(e.value)


def test_since_until_limit_detection():
    from datetime import datetime

    rs = load_rules(include_sigma=False)
    rule = rs.get("defense_evasion_leave_organization")
    recs = [{"eventTime": t, "eventSource": "organizations.amazonaws.com",
             "eventName": "LeaveOrganization",
             "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/x",
                              "accessKeyId": "AKIAX"}}
            for t in ("2026-03-18T10:00:00Z", "2026-03-19T10:00:00Z", "2026-03-20T10:00:00Z")]
    conn = events_connection(expand(recs, "s"))
    res = detect(conn, RuleSet((rule,)), since=datetime(2026, 3, 19), until=datetime(2026, 3, 20))
    assert [a.event_ids for a in res.alerts] == [("s-1",)]


# --- CLI -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stratus_store(tmp_path_factory):
    from rules.rulehelp import FIXTURES
    from trailhound.cli import main

    src = FIXTURES / "stratus-detonations"
    store = tmp_path_factory.mktemp("store")
    assert main(["ingest", str(src), "--store", str(store), "--format", "json"]) == 0
    return store


def test_cli_detect_ndjson(stratus_store, cli):
    code, out, err = cli("detect", "--store", str(stratus_store), "--format", "ndjson")
    assert code == 0, err
    alerts = [json.loads(line) for line in out.splitlines()]
    ids = {a["rule_id"] for a in alerts}
    assert "persistence_access_key_for_other_user" in ids
    assert "defense_evasion_cloudtrail_stopped_or_deleted" in ids
    assert all(a["severity"] in ("critical", "high", "medium", "low") for a in alerts)


def test_cli_detect_json_and_table(stratus_store, cli):
    code, out, _ = cli("detect", "--store", str(stratus_store), "--format", "json", "--no-sigma")
    assert code == 0
    doc = json.loads(out)
    assert doc["alerts"] and doc["skipped"] == []
    code, out, _ = cli("detect", "--store", str(stratus_store))
    assert code == 0 and "alerts" in out


def test_cli_usage_errors_are_one_line(cli, tmp_path):
    code, _, err = cli("detect", "--store", str(tmp_path / "nope"))
    assert code == 2 and err.count("\n") == 1
    code, _, err = cli("rules", "list", "--rules", str(tmp_path / "missing"))
    assert code == 2 and "no such file" in err


def test_cli_rules_list_test_lint_export(cli):
    code, out, _ = cli("rules", "list", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert len(doc["rules"]) >= 22
    # (every rule's self-test runs in test_own_rules; here the command's plumbing)
    code, out, err = cli("rules", "test", "--rule", "persistence_stolen_key_chain")
    assert code == 0, err
    assert "pass" in out and "FAIL" not in out
    code, out, _ = cli("rules", "lint", "--format", "json")
    assert code == 0
    findings = json.loads(out)
    assert any(f["rule_id"] == "aws_iam_backdoor_users_keys"
               and f["check"] == "value-is-field-name" for f in findings)
    for dialect in ("duckdb", "spark", "trino", "athena"):
        code, out, err = cli("rules", "export", "--dialect", dialect,
                             "--rule", "persistence_access_key_for_other_user")
        assert code == 0, err
        assert "CreateAccessKey".lower() in out.lower()


def test_cli_rules_test_fails_on_a_broken_rule(cli, tmp_path):
    bad = tmp_path / "discovery_bad.yml"
    bad.write_text(
        "id: discovery_bad\ntitle: t\nkind: sigma\nlevel: low\nstage: discovery\n"
        "description: a rule whose positive event does not match its detection at all\n"
        "tags: [attack.t1580]\ndetection: {eventName: ListBuckets}\n"
        "tests: {positive: [{eventName: GetObject}], negative: [{eventName: GetObject}]}\n")
    code, _, err = cli("rules", "test", "--rules", str(tmp_path), "--rule", "discovery_bad")
    assert code == 2 and "discovery_bad" in err


def test_exported_duckdb_sql_runs(tmp_path):
    """The exported DuckDB text is what detect runs: it executes over an events table."""
    from trailhound.rules.export import export_rule

    rs = load_rules(include_sigma=False)
    conn = events_connection(expand([{"eventName": "ListBuckets",
                                      "eventSource": "s3.amazonaws.com"}], "x"))
    for rule in rs.rules:
        sql = export_rule(rule, "duckdb").sql
        conn.execute(sql).fetchall()


def test_sigma_dir_override(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("TRAILHOUND_SIGMA_RULES", str(tmp_path))
    rs = load_rules()
    assert not [r for r in rs.rules if r.origin == "sigmahq"]


def test_event_ids_with_the_separator_character_survive():
    """Ids travel joined by U+001F; a forged id containing it falls back to a list."""
    rs = load_rules(include_sigma=False)
    rule = rs.get("defense_evasion_leave_organization")
    recs = [{"eventID": eid, "eventTime": "2026-03-19T10:00:00Z",
             "eventSource": "organizations.amazonaws.com", "eventName": "LeaveOrganization",
             "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/x",
                              "accessKeyId": "AKIAX"}} for eid in ("a\x1fb", "c")]
    conn = events_connection(recs)
    assert [a.event_ids for a in run_rule(conn, rule, TimeRange(None, None))] == [
        ("a\x1fb", "c")]
    # detect on DuckDB keeps ids in a table and never joins them.
    res = detect(conn, RuleSet((rule,)))
    assert [tuple(a.event_ids) for a in res.alerts] == [("a\x1fb", "c")]


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "trino", "athena"])
def test_every_rule_exports_to_every_dialect(dialect):
    from trailhound.rules.export import export_rules

    rs = load_rules()
    out = export_rules(rs, dialect)
    assert len(out) == len(rs.rules)
    assert all(e.sql.strip().upper().startswith(("SELECT", "WITH")) for e in out)


def test_shipped_tuning_demotes_broken_and_routine_published_rules():
    rs = load_rules()
    assert rs.get("aws_iam_backdoor_users_keys").level == "low"
    assert rs.get("aws_cloudtrail_ssm_malicious_usage").severity == "medium"
    assert rs.get("aws_sts_assumerole_misuse").group_by == "role"
    # the rule files themselves are untouched: loaded alone they keep their published levels
    raw, _ = load_file(SIGMA_DIR / "aws_iam_backdoor_users_keys.yml", origin="sigmahq")
    assert raw[0].level == "medium"


def test_an_alert_is_named_after_its_first_event_even_within_one_second():
    """Events of the same second are common at scale: the alert's address and account come
    from one event, the earliest by time then event id, whatever the order the engine reads
    them in (runs and engines named different addresses before)."""
    rule = load_rules(include_sigma=False).get("defense_evasion_leave_organization")
    recs = [{"eventID": eid, "eventTime": "2026-03-19T10:00:00Z",
             "eventSource": "organizations.amazonaws.com", "eventName": "LeaveOrganization",
             "sourceIPAddress": ip, "recipientAccountId": acct,
             "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/a",
                              "accountId": "111111111111", "accessKeyId": "AKIAA"}}
            for eid, ip, acct in (("e-3", "203.0.113.3", "333333333333"),
                                  ("e-2", "203.0.113.2", "222222222222"),
                                  ("e-1", "203.0.113.1", "111111111111"))]
    for records in (recs, recs[::-1]):
        conn = events_connection(records)
        alerts = [*run_rule(conn, rule, TimeRange(None, None)),
                  *detect(conn, RuleSet((rule,))).alerts]
        assert len(alerts) == 2 and all(a.count == 3 for a in alerts)
        for a in alerts:
            assert (a.source_ip, a.account) == ("203.0.113.1", "111111111111")
