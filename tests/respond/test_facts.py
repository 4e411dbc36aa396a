"""Planning from a hand-made store, independent of detection: who owns each attacker key, which
role a session belongs to, what the legitimate side does, which buckets changed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cloudtrail import (
    ACCOUNT,
    assume_role,
    assumed_role_identity,
    create_access_key,
    get_caller_identity,
    get_object,
    iam_user_identity,
    record,
    write_aws_layout,
)
from trailhound.respond import plan_for
from trailhound.store.engine import Store
from trailhound.store.ingest import ingest

STOLEN = "AKIAIOSFODNN7EXAMPLE"
CREATED = "AKIANEWKEYEXAMPLE001"
WEB_OWN = "AKIAWEBADMINOWNKEY01"
SESSION = "ASIAATTACKERSESSION1"
LEGIT_SESSION = "ASIALEGITSESSION0001"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/backup-restore"
RUNNER = "192.0.2.10"
ATTACKER = "203.0.113.7"
GHA = ("aws-sdk-js/3.540.0 ua/2.0 os/linux#6.5 lang/js md/nodejs#20.11.1 "
       "exec-env/GitHubActions")
INC = "INC-HANDMADE0001"


@pytest.fixture
def handmade_store(tmp_path: Path) -> Path:
    ci = iam_user_identity("ci-deploy", STOLEN)
    web = iam_user_identity("web-admin", WEB_OWN)
    sess = assumed_role_identity("backup-restore", "x", SESSION)
    legit_sess = assumed_role_identity("backup-restore", "i-0backup", LEGIT_SESSION)
    t = "2026-03-19T{}:00Z".format
    recs = [
        record("PutBucketAcl", source="s3.amazonaws.com", identity=web, time=t("06:00"),
               ip="198.51.100.20", request={"bucketName": "old-change"}),
        *[record(op, source="ecr.amazonaws.com", identity=ci, time=t(f"08:{n:02d}"),
                 ip=RUNNER, ua=GHA) for n, op in enumerate(["PutImage", "InitiateLayerUpload",
                                                             "PutImage"])],
        record("UpdateService", source="ecs.amazonaws.com", identity=ci, time=t("08:10"),
               ip=RUNNER, ua=GHA),
        get_caller_identity(identity=ci, time=t("09:00"), ip=ATTACKER, ua="TruffleHog"),
        create_access_key("web-admin", CREATED, identity=ci, time=t("09:05"), ip=ATTACKER),
        assume_role(ROLE, "x", SESSION, identity=ci, time=t("09:10"), ip=ATTACKER),
        get_object("tenant-docs", "a.pdf", 1000, identity=sess, time=t("09:20"), ip=ATTACKER),
        record("PutBucketPolicy", source="s3.amazonaws.com", identity=sess, time=t("09:30"),
               ip=ATTACKER, request={"bucketName": "tenant-docs", "bucketPolicy": {}}),
        record("ListUsers", identity=iam_user_identity("web-admin", CREATED),
               time=t("09:40"), ip=ATTACKER, read_only=True),
        record("GetUser", identity=web, time=t("10:00"), ip="198.51.100.20", read_only=True),
        record("PutObject", source="s3.amazonaws.com", identity=legit_sess, time=t("11:00"),
               ip="10.0.0.5", request={"bucketName": "backups", "key": "k"}),
        record("PutImage", source="ecr.amazonaws.com", identity=ci, time=t("12:00"),
               ip=RUNNER, ua=GHA),
    ]
    write_aws_layout(tmp_path / "logs", recs)
    st = Store(tmp_path / "store", create=True)
    ingest([str(tmp_path / "logs")], st)
    st.close()
    doc = {"schema_version": 1, "generated_at": "2026-03-20T00:00:00Z", "events_analysed": 13,
           "incidents": [{
               "id": INC, "title": "handmade", "severity": "critical",
               "first_seen": "2026-03-19T09:00:00Z", "last_seen": "2026-03-19T09:40:00Z",
               "root_access_key": STOLEN, "access_keys": [CREATED, SESSION, STOLEN],
               "principals": [f"arn:aws:iam::{ACCOUNT}:user/ci-deploy",
                              f"arn:aws:iam::{ACCOUNT}:user/web-admin",
                              f"arn:aws:sts::{ACCOUNT}:assumed-role/backup-restore/x"],
               "accounts": [ACCOUNT], "source_ips": [ATTACKER], "user_agents": [],
               "stages": ["credential-validation", "persistence", "collection"],
               "resources": {"s3_buckets": [{"name": "tenant-docs", "account": ACCOUNT,
                                             "tenant": "Tenant A"}]},
               "recommended_actions": []}]}
    (tmp_path / "store" / "incidents.json").write_bytes(orjson.dumps(doc))
    return tmp_path / "store"


def test_owners_roles_and_legitimate_use_from_the_store(handmade_store: Path) -> None:
    plan = plan_for(handmade_store, INC)
    keys = {k.key: k for k in plan.attacker_keys}
    assert (keys[STOLEN].kind, keys[STOLEN].user) == ("stolen", "ci-deploy")
    assert (keys[CREATED].kind, keys[CREATED].user, keys[CREATED].created_by) == (
        "created", "web-admin", STOLEN)
    assert (keys[SESSION].kind, keys[SESSION].role_arn) == ("session", ROLE)
    legit = keys[STOLEN].legit
    assert legit.events == 5 and legit.source_ips == [RUNNER]
    assert legit.platforms == ["GitHub Actions"] and "ecr:PutImage" in legit.top_calls
    assert not keys[CREATED].legit.any

    ids = [s.id for s in plan.steps]
    assert f"deactivate-access-key:{STOLEN}" in ids and f"deactivate-access-key:{CREATED}" in ids
    assert not any(SESSION in i for i in ids if i.startswith(("deactivate", "delete")))
    revoke = plan.step(f"revoke-role-sessions:{ROLE}")
    assert revoke.mode == "automatic" and SESSION in revoke.why
    assert "1 calls" in revoke.blast_radius and "10.0.0.5" in revoke.blast_radius
    web = plan.step(f"quarantine-user:arn:aws:iam::{ACCOUNT}:user/web-admin")
    assert "1 other access key" in web.blast_radius
    assert plan.step(f"deactivate-access-key:{STOLEN}").calls[0].params["UserName"] == \
        "ci-deploy"
    assert plan.step(f"delete-access-key:{CREATED}").calls[0].params["UserName"] == "web-admin"

    review = [s for s in plan.steps if s.action == "review-bucket-access"]
    assert [s.target for s in review] == ["tenant-docs"]  # old-change predates the incident
    assert "PutBucketPolicy" in review[0].why and "1 by the attacker" in review[0].why
    assert plan.step(f"notify-data-owners:{INC}").target == "Tenant A"

    text = orjson.dumps(plan.to_dict()).decode()
    assert WEB_OWN not in text and LEGIT_SESSION not in text
    assert ATTACKER not in plan.step(f"deactivate-access-key:{STOLEN}").blast_radius


def test_identity_center_roles_are_manual(handmade_store: Path, tmp_path: Path) -> None:
    doc = orjson.loads((handmade_store / "incidents.json").read_bytes())
    inc = doc["incidents"][0]
    sso = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/pat"
    inc.update(root_access_key="role:" + sso, access_keys=["role:" + sso], principals=[sso])
    (handmade_store / "incidents.json").write_bytes(orjson.dumps(doc))
    plan = plan_for(handmade_store, INC)
    step = next(s for s in plan.steps if s.action == "revoke-role-sessions")
    assert step.mode == "manual" and not step.calls
    assert "IAM Identity Center" in step.params["hint"] and "pat" in step.blast_radius
    assert not [s for s in plan.steps if s.mode == "automatic"]
