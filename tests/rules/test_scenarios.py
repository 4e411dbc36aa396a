"""Built-in + SigmaHQ rules on the simulator's scenarios (small volume): every attacker stage
raises at least one alert whose evidence holds an event of that stage, and no benign look-alike
(and nothing outside the attack) raises a high or critical alert."""

from __future__ import annotations

import json

import pytest

from trailhound import simulate
from trailhound.rules import detect, load_rules
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

RULES = load_rules()


@pytest.fixture(scope="module", params=["full", "quiet", "cross-account", "benign"])
def scenario(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    simulate.generate(root / "sim", scenario=request.param, days=6, events_per_day=2000,
                      seed=5, workers=1)
    store = Store(root / "store", create=True)
    try:
        ingest([str(root / "sim" / "AWSLogs")], store)
    finally:
        store.close()
    st = Store(root / "store")
    try:
        result = detect(st.connect(threads=1), RULES)
    finally:
        st.close()
    truth = json.loads((root / "sim" / "truth.json").read_text())
    return request.param, truth, result


def test_every_attacker_stage_alerts(scenario):
    name, truth, result = scenario
    attack = truth.get("attack")
    if not attack:  # only the benign scenario has none; its check is the next test's
        assert name == "benign"
        return
    alerted = set()
    for a in result.alerts:
        alerted.update(a.event_ids)
    missing = [stage for stage, ids in attack["events_by_stage"].items()
               if not alerted & set(ids)]
    assert not missing, f"{name}: stages without any alert: {missing}"


def test_no_high_alert_outside_the_attack(scenario):
    name, truth, result = scenario
    attack_ids = set((truth.get("attack") or {}).get("event_ids", []))
    bad = [(a.rule_id, a.principal_arn) for a in result.alerts
           if a.severity in ("high", "critical") and not attack_ids & set(a.event_ids)]
    assert not bad, f"{name}: high alerts on benign activity: {bad}"


def test_no_rule_skipped(scenario):
    _, _, result = scenario
    assert not result.skipped
