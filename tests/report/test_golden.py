"""Golden renderer output: report.md and report.html (without charts) of a hand-made incident
whose log values are hostile, so any change to what the report says or how it escapes shows
up as a diff. Regenerate with TRAILHOUND_UPDATE_GOLDEN=1 after checking the change is wanted."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from report.mdcheck import table_cell_counts
from trailhound.correlate.incident import Bucket, Incident
from trailhound.report import html, markdown
from trailhound.report.model import build_model

GOLDEN = Path(__file__).parent / "golden"
UA = "<script>alert(1)</script> [x](http://evil.example) \x1b[2J\u202etxt.exe"


def _result() -> SimpleNamespace:
    inc = Incident(
        id="INC-0123456789AB", root_access_key="AKIAEXAMPLEROOT00001",
        access_keys=["AKIAEXAMPLEROOT00001", "AKIAEXAMPLENEW000002"],
        principals=["arn:aws:iam::111122223333:user/ci-deploy",
                    "arn:aws:iam::111122223333:user/web|admin"],
        accounts=["111122223333"], source_ips=["203.0.113.7", "2001:db8::1"],
        user_agents=[UA, "TruffleHog/3.88.7"],
        stages=["credential-validation", "persistence", "collection"],
        techniques=["T1078.004", "T1098.001", "T1530"],
        first_seen=datetime(2026, 3, 19, 8, 0, 0), last_seen=datetime(2026, 3, 24, 17, 30, 5),
        event_count=120, attacker_events=100, shared_events=20,
        buckets=[Bucket("=cmd|' /C calc'!A0", "111122223333", 12, 14, 9_100_000_000,
                        "<b>tenant</b>", datetime(2026, 3, 20), datetime(2026, 3, 21)),
                 Bucket("mail-dumps", "111122223333", 3, 3, 52_000, None)],
        alerts=[{"rule_id": "r1", "count": 2, "event_ids": ["e1", "e2"]}],
        severity="critical", confidence=0.97,
        title="Stolen access key AKIAEXAMPLEROOT00001 used from new infrastructure",
        created_keys=[("AKIAEXAMPLENEW000002", "web|admin")],
        evidence_reasons=["validator user agent [x](y)"],
        recommended_actions=[
            {"action": "deactivate-access-key", "target": "AKIAEXAMPLEROOT00001",
             "why": "the key was used by the attacker"},
            {"action": "block-source-ip", "target": "203.0.113.7", "why": "attacker address"}],
        ongoing=True, history_days=2.5,
        warnings=["Only 2.5 days of history <i>precede</i> it: ingest from --since 2026-02-17."])
    details = {"milestones": [{
        "time": datetime(2026, 3, 19, 8, 0, 0), "what": ["first attacker activity"],
        "event_name": "GetCallerIdentity", "access_key_id": "AKIAEXAMPLEROOT00001",
        "source_ip": "203.0.113.7", "user_agent": UA, "account": "111122223333",
        "target_user": None, "created_access_key_id": None, "assumed_role_arn": None,
        "error_code": None, "stage": "credential-validation", "event_id": "e1"}],
        "daily": [], "stages": {"credential-validation": [
            ("sts.amazonaws.com:GetCallerIdentity", "T1078.004", 3, 1)]}}
    alert = SimpleNamespace(rule_id="r1|<i>", severity="high", author="Ann | <b>Lee</b>")
    return SimpleNamespace(
        incidents=[inc], details={inc.id: details}, events_analysed=1000,
        detect=SimpleNamespace(alerts=[alert, alert], timings={"r1": 0.1}),
        correlation=SimpleNamespace(alert_incident={0: inc.id}))


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRAILHOUND_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with TRAILHOUND_UPDATE_GOLDEN=1"
    assert text == path.read_text()


@pytest.fixture
def model():
    m = build_model(_result())  # type: ignore[arg-type]
    m.generated_at = "2026-03-25 09:00 UTC"
    return m


def test_markdown_golden(model):
    text = markdown.render_model(model)
    assert all(len(shape) == 1 for shape in table_cell_counts(text))  # `|` in values
    _check("report.md", text)


def test_html_golden(model):
    page = html.render_model(model)
    assert "Plotly" not in page  # no investigation, no charts, no 4 MB of plotly.js
    _check("report.html", page)
