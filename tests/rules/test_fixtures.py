"""Agreement with third-party labelled data: Panther's rule tests and Stratus Red Team captures.

A built-in rule of the same intent as a Panther rule must agree on every test case of that
rule, except the cases listed in DIFFERS, each of which the rule's own description explains.
"""

from __future__ import annotations

import json

import pytest

from rules.rulehelp import FIXTURES
from trailhound.rules import load_rules
from trailhound.rules.selftest import expand, fired_event_ids

BUILTIN = load_rules(include_sigma=False)
PANTHER_FILE = FIXTURES / "panther-rule-tests" / "cloudtrail-rule-tests.ndjson"
STRATUS = FIXTURES / "stratus-detonations"

SAME_INTENT = {
    "credential_access_validator_user_agent": ["AWS.STS.GetCallerIdentity.TruffleHog"],
    "persistence_access_key_for_other_user": ["AWS.IAM.Backdoor.User.Keys"],
    "defense_evasion_cloudtrail_stopped_or_deleted": ["AWS.CloudTrail.Stopped",
                                                      "AWS.CloudTrail.EventSelectorsDisabled"],
    "initial_access_console_login_without_mfa": ["AWS.Console.LoginWithoutMFA"],
    "defense_evasion_leave_organization": ["AWS.CloudTrail.AttemptToLeaveOrg"],
    "privilege_escalation_admin_policy_attached": ["AWS.IAM.AttachAdminUserPolicy",
                                                   "AWS.IAM.AttachAdminRolePolicy"],
    "defense_evasion_config_or_flow_logs_disabled": ["AWS.VPCFlow.LogsDeleted",
                                                     "AWS.ConfigService.DisabledDeleted",
                                                     "AWS.CloudTrail.DNSLogsDeleted"],
    "exfiltration_snapshot_or_image_shared": ["AWS.RDS.SnapshotShared",
                                              "AWS.CloudTrail.SnapshotMadePublic",
                                              "AWS.CloudTrail.AMIModifiedForPublicAccess"],
    "credential_access_secrets_batch_retrieval": ["AWS.SecretsManager.BatchRetrieveSecrets",
                                                  "AWS.SecretsManager.BatchRetrieveSecretsCatchAll"],
}
# (rule, Panther test name): deliberate differences, explained in the rule's description.
DIFFERS = {
    ("initial_access_console_login_without_mfa", "No MFA Login - New User"),
    ("exfiltration_snapshot_or_image_shared", "AMI Added to User"),
    ("credential_access_secrets_batch_retrieval",
     "BatchGetSecretValue Catch-All with other filters"),
}


def _panther_cases():
    cases = [json.loads(line) for line in PANTHER_FILE.read_text().splitlines() if line]
    out = []
    for rid, prules in SAME_INTENT.items():
        for c in cases:
            if c["rule"] in prules:
                out.append(pytest.param(rid, c, id=f"{rid}:{c['test_name']}"))
    return out


@pytest.mark.parametrize(("rule_id", "case"), _panther_cases())
def test_agrees_with_panther(rule_id, case):
    rule = BUILTIN.get(rule_id)
    record = {k: v for k, v in case["record"].items() if not k.startswith("p_")}
    fired = bool(fired_event_ids(rule, expand([record], "panther")))
    if (rule_id, case["test_name"]) in DIFFERS:
        assert fired != case["expected"], "listed as a deliberate difference but agrees"
        assert "Panther" in rule.description
    else:
        assert fired == case["expected"]


STRATUS_EXPECT = {
    "aws.persistence.iam-backdoor-user": "persistence_access_key_for_other_user",
    "aws.defense-evasion.cloudtrail-stop": "defense_evasion_cloudtrail_stopped_or_deleted",
    "aws.defense-evasion.cloudtrail-delete": "defense_evasion_cloudtrail_stopped_or_deleted",
    "aws.defense-evasion.cloudtrail-event-selectors":
        "defense_evasion_cloudtrail_stopped_or_deleted",
    "aws.defense-evasion.vpc-remove-flow-logs": "defense_evasion_config_or_flow_logs_disabled",
    "aws.defense-evasion.dns-delete-logs": "defense_evasion_config_or_flow_logs_disabled",
    "aws.defense-evasion.organizations-leave": "defense_evasion_leave_organization",
    "aws.exfiltration.ec2-share-ebs-snapshot": "exfiltration_snapshot_or_image_shared",
    "aws.exfiltration.ec2-share-ami": "exfiltration_snapshot_or_image_shared",
    "aws.exfiltration.rds-share-snapshot": "exfiltration_snapshot_or_image_shared",
    "aws.credential-access.secretsmanager-retrieve-secrets":
        "credential_access_secrets_retrieval_spree",
    "aws.credential-access.secretsmanager-batch-retrieve-secrets":
        "credential_access_secrets_batch_retrieval",
    "aws.initial-access.console-login-without-mfa": "initial_access_console_login_without_mfa",
    "aws.persistence.iam-create-admin-user": "privilege_escalation_admin_policy_attached",
}


@pytest.mark.parametrize("technique", sorted(STRATUS_EXPECT))
def test_stratus_detonation_is_detected(technique):
    records = json.loads((STRATUS / f"{technique}.json").read_text())
    rule = BUILTIN.get(STRATUS_EXPECT[technique])
    assert fired_event_ids(rule, records)


def test_backdoor_rule_is_quiet_on_unrelated_detonations():
    """The CreateAccessKey rule fires only where a key was made for another user."""
    rule = BUILTIN.get("persistence_access_key_for_other_user")
    fired = set()
    for path in STRATUS.glob("*.json"):
        if fired_event_ids(rule, json.loads(path.read_text())):
            fired.add(path.stem)
    assert fired == {"aws.persistence.iam-backdoor-user", "aws.persistence.iam-create-admin-user"}
