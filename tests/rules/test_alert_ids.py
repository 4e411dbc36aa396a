"""Alert event ids kept in the engine (`StoredIds`; DuckDB here, Spark in tests/spark): the same
alerts as the tuple path of the watch and the self-tests, read back in order and in chunks,
written out without holding them all."""

from __future__ import annotations

import orjson
import pytest

from trailhound import simulate
from trailhound.rules import detect, load_rules
from trailhound.rules.alert_ids import StoredIds, id_chunks
from trailhound.rules.model import RuleSet
from trailhound.rules.run import run_rule
from trailhound.rules.selftest import events_connection
from trailhound.rules.timerange import TimeRange
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

RULES = load_rules()


@pytest.fixture(scope="module")
def full_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("ids")
    simulate.generate(root / "sim", scenario="full", days=3, events_per_day=2000, seed=11,
                      workers=1)
    store = Store(root / "store", create=True)
    try:
        ingest([str(root / "sim" / "AWSLogs")], store)
    finally:
        store.close()
    return root / "store"


def _plain(a):
    return (a.rule_id, a.event_time, a.last_event_time, a.access_key_id, a.principal_arn,
            a.source_ip, a.account, a.count)


def test_stored_alerts_equal_the_tuple_path(full_store):
    """Every rule, on a simulated week with the attack: the stored alerts are the alerts
    `run_rule` (Spark, the watch, self-tests) returns, in the same order, with the same ids."""
    st = Store(full_store)
    try:
        conn = st.connect(threads=1)
        res = detect(conn, RULES)
        by_rule: dict[str, list] = {}
        for a in res.alerts:
            assert isinstance(a.event_ids, StoredIds)
            by_rule.setdefault(a.rule_id, []).append(a)
        assert sum(a.count for a in res.alerts) > 1000  # the noisy rules are in there
        for rule in RULES.enabled:
            tuples = run_rule(conn, rule, TimeRange(None, None))
            stored = by_rule.get(rule.id, [])
            assert [_plain(a) for a in stored] == [_plain(a) for a in tuples], rule.id
            for s, t in zip(stored, tuples, strict=True):
                assert tuple(s.event_ids) == t.event_ids
                assert len(s.event_ids) == len(t.event_ids) == s.count
        # Nothing left behind by a rule: the ids table holds exactly the alerts' ids.
        table = res.alerts[0].event_ids.table.name
        (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
        assert rows == sum(a.count for a in res.alerts)
    finally:
        st.close()


def _leave_org(ids):
    return [{"eventID": eid, "eventTime": f"2026-03-19T10:00:{n:02d}Z",
             "eventSource": "organizations.amazonaws.com", "eventName": "LeaveOrganization",
             "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/x",
                              "accessKeyId": "AKIAX"}} for n, eid in enumerate(ids)]


def test_stored_ids_behave_as_the_sorted_tuple():
    rule = load_rules(include_sigma=False).get("defense_evasion_leave_organization")
    ids = [f"id-{n:02d}" for n in (5, 3, 9, 1, 7, 0, 2)]
    res = detect(events_connection(_leave_org(ids)), RuleSet((rule,)))
    (a,) = res.alerts
    want = tuple(sorted(ids))
    s = a.event_ids
    assert isinstance(s, StoredIds)
    assert len(s) == 7 and tuple(s) == want and list(s) == list(want)
    assert s[0] == want[0] and s[-1] == want[-1] and s[3] == want[3]
    assert s[:3] == want[:3] and s[2:5] == want[2:5] and s[5:] == want[5:]
    assert s[::2] == want[::2] and s[10:] == () and s[-2:] == want[-2:]
    assert s == want and s != want[:-1] and want == s
    assert hash(s) == hash(want)
    assert [list(c) for c in id_chunks(s, 3)] == [list(want[:3]), list(want[3:6]), [want[6]]]
    assert [list(c) for c in id_chunks(want, 3)] == [list(want[:3]), list(want[3:6]),
                                                      [want[6]]]
    with pytest.raises(IndexError):
        s[7]
    s.table.close()  # what a hunt does when it is done with the alerts
    with pytest.raises(RuntimeError, match="read them before closing"):
        list(s)
    s.conn.close()
    with pytest.raises(RuntimeError, match="read them before closing"):
        s[0]


@pytest.mark.parametrize("stored", [True, False])
def test_json_pieces_are_the_alert_as_one_json_line(stored):
    """In chunks of 2 ids (for the real 50,000): the same bytes as dumping the whole dict, with
    the hunt's incident id, and an attacker-chosen id that spells the key being spliced."""
    rule = load_rules(include_sigma=False).get("defense_evasion_leave_organization")
    ids = ['"event_ids":[]', "b", "c", "d", "e"]
    conn = events_connection(_leave_org(ids))
    (a,) = (detect(conn, RuleSet((rule,))).alerts if stored
            else run_rule(conn, rule, TimeRange(None, None)))
    assert isinstance(a.event_ids, StoredIds) is stored
    line = b"".join(a.json_pieces(chunk=2, incident_id="inc-1"))
    assert line == orjson.dumps({**a.to_dict(), "incident_id": "inc-1"})
    assert orjson.loads(line)["event_ids"] == sorted(ids)


def test_a_failing_rule_leaves_the_others_ids_intact():
    """A rule whose query fails is skipped; the alerts before and after it keep their ids."""
    from dataclasses import replace

    rs = load_rules(include_sigma=False)
    good = rs.get("defense_evasion_leave_organization")
    broken = replace(good, id="broken", spec={**good.spec},
                     filters=("no_such_column = 1",))
    conn = events_connection(_leave_org(["a", "b"]))
    res = detect(conn, RuleSet((good, broken, replace(good, id="again"))))
    assert [r for r, _ in res.skipped] == ["broken"]
    assert [(a.rule_id, tuple(a.event_ids)) for a in res.alerts] == [
        ("again", ("a", "b")), ("defense_evasion_leave_organization", ("a", "b"))]
