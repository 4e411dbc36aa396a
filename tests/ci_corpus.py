"""A CI key with routine use from its runners, and hand-made alerts: the corpus correlation
tests build on (tests/correlate)."""

from __future__ import annotations

from datetime import datetime, timedelta

import cloudtrail as ct
from trailhound.correlate import correlate
from trailhound.rules import Alert
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

CI_KEY = "AKIACIKEY00000000001"
CI_UA = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5 exec-env/GitHubActions md/command#s3.cp"
RUNNERS = ["20.10.1.5", "20.10.1.9", "52.4.7.100"]
ATTACKER = "203.0.113.77"
T0 = datetime(2026, 3, 16, 0, 0, 0)


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def ci_identity(key: str = CI_KEY, user: str = "ci-deploy", account: str = ct.ACCOUNT) -> dict:
    return ct.iam_user_identity(user, key, account)


def routine(days: int = 5) -> list[dict]:
    """CI deploying every 30 minutes from its runners, for `days` days."""
    out = []
    t = T0
    n = 0
    while t < T0 + timedelta(days=days):
        ip = RUNNERS[n % len(RUNNERS)]
        out.append(ct.record("PutObject", source="s3.amazonaws.com", identity=ci_identity(),
                             time=ts(t), ip=ip, ua=CI_UA,
                             request={"bucketName": "releases", "key": f"build/{n}.zip"}))
        out.append(ct.record("UpdateService", source="ecs.amazonaws.com", identity=ci_identity(),
                             time=ts(t + timedelta(seconds=20)), ip=ip, ua=CI_UA))
        t += timedelta(minutes=30)
        n += 1
    return out


def alert(rule: str, events: list[dict], severity: str = "medium", stage: str | None = None
          ) -> Alert:
    times = sorted(datetime.fromisoformat(e["eventTime"].replace("Z", "")) for e in events)
    first = events[0]
    return Alert(rule_id=rule, title=rule, severity=severity, stage=stage, techniques=(),
                 event_ids=tuple(e["eventID"] for e in events), event_time=times[0],
                 last_event_time=times[-1],
                 access_key_id=first["userIdentity"].get("accessKeyId"),
                 principal_arn=first["userIdentity"].get("arn"),
                 source_ip=first["sourceIPAddress"], account=first["recipientAccountId"],
                 count=len(events))


def run(tmp_path, records: list[dict], alerts: list[Alert], **kw):
    ct.write_aws_layout(tmp_path / "src", records, per_file=500)
    st = Store(tmp_path / "store", create=True)
    ingest([str(tmp_path / "src")], st)
    conn = st.connect()
    return correlate(conn, alerts, **kw)
