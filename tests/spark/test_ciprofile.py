"""--ci-profile evidence on Spark: the same CI-key-outside-CI alerts as on DuckDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

import cloudtrail as ct
from ci_corpus import ATTACKER, CI_KEY, T0, ci_identity, routine, ts
from trailhound.correlate.ciprofile import RULE_ID, ci_key_alerts
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

pytestmark = pytest.mark.spark


def test_same_alerts_as_duckdb(tmp_path, spark_engine):
    t = T0 + timedelta(days=3)
    outside = [ct.record("ListUsers", identity=ci_identity(), ip=ip, ua="curl/8.0",
                         time=ts(t + timedelta(minutes=i)))
               for i, ip in enumerate([ATTACKER, "198.51.100.77", ATTACKER])]
    ct.write_aws_layout(tmp_path / "src", [*routine(), *outside], per_file=500)
    st = Store(tmp_path / "store", create=True)
    ingest([str(tmp_path / "src")], st)
    markers = ["exec-env/GitHubActions", "aws-cli/"]
    duck = ci_key_alerts(st.connect(), markers)
    spark = ci_key_alerts(spark_engine.connect(st), markers)
    assert spark == duck
    assert [(a.rule_id, a.access_key_id, a.source_ip) for a in spark] == [
        (RULE_ID, CI_KEY, ATTACKER)]
    assert set(spark[0].event_ids) == {e["eventID"] for e in outside}
