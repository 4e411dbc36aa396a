"""Spark's detect keeps alert event ids with the executors (Parquet under the store's tmp/):
the same alerts and ids as DuckDB's detect, readable until released, then gone from disk."""

from __future__ import annotations

from dataclasses import replace

import pytest

import cloudtrail as ct
from trailhound.rules import detect as duck_detect
from trailhound.rules import load_rules
from trailhound.rules.alert_ids import StoredIds
from trailhound.rules.model import RuleSet
from trailhound.spark.alert_ids import ParquetIds
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

pytestmark = pytest.mark.spark


def _store(root):
    who = {"identity": ct.iam_user_identity(key="AKIAEXAMPLESTOLEN001"), "ip": "203.0.113.9"}
    recs = [ct.get_caller_identity(ua="TruffleHog", time=f"2026-03-19T10:0{n}:00Z", **who)
            for n in range(5)]
    recs += [ct.create_access_key("web-admin", "AKIAEXAMPLECREATED01",
                                  time="2026-03-19T10:07:00Z", **who)]
    ct.write_aws_layout(root / "src", recs)
    st = Store(root / "store", create=True)
    try:
        ingest([str(root / "src")], st)
    finally:
        st.close()
    return root / "store"


def _plain(alerts):
    return sorted((a.rule_id, a.count, a.access_key_id, tuple(a.event_ids)) for a in alerts)


def test_spark_ids_are_files_equal_to_duckdb_ids_until_released(tmp_path, spark_engine):
    store = _store(tmp_path)
    rules = load_rules(include_sigma=False)
    good = rules.get("persistence_access_key_for_other_user")
    broken = replace(good, id="broken", filters=("no_such_column = 1",))
    ruleset = RuleSet((*rules.enabled, broken))
    st = Store(store)
    try:
        duck_conn = st.connect()
        duck = _plain(duck_detect(duck_conn, ruleset).alerts)
        conn = spark_engine.connect(st)
        res = spark_engine.detect(conn, ruleset)
    finally:
        st.close()
    assert "broken" in {r for r, _ in res.skipped}
    assert len(res.alerts) >= 2 and _plain(res.alerts) == duck
    (table,) = {id(a.event_ids.table): a.event_ids.table for a in res.alerts}.values()
    assert isinstance(table, ParquetIds) and all(isinstance(a.event_ids, StoredIds)
                                                 for a in res.alerts)
    assert table.folder.parent == store / "tmp" and list(table.folder.glob("*/*.parquet"))
    # The failed rule left nothing behind; each file holds only its rule's alerts.
    (rows,) = table.conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()
    assert rows == sum(a.count for a in res.alerts)
    res.release()
    assert not table.folder.exists()
    with pytest.raises(RuntimeError, match="read them before closing"):
        list(res.alerts[0].event_ids)
