"""Lessons and recommendations with their D3FEND technique ids, chosen by what happened."""

from __future__ import annotations

_ALWAYS = [
    ("Scope every credential the attacker touched", "D3-CCSA",
     "follow each stolen key to the keys it created and the sessions it obtained, across "
     "accounts, before declaring containment."),
    ("Evict and rotate credentials", "D3-CE",
     "deactivate, then delete, attacker keys; rotate the stolen credential (D3-CRO) and move "
     "CI/CD to short-lived OIDC roles instead of long-lived keys."),
]
_BY_STAGE = {
    "credential-validation": ("Watch logon patterns of machine identities", "D3-UGLPA",
                              "a CI key has a stable shape (runner networks, CI user agents); "
                              "alert when it is used from anywhere else."),
    "persistence": ("Least privilege for CI identities", "D3-UAP",
                    "a deployment key does not need iam:CreateAccessKey on other users; "
                    "compare what a key may do with what it does."),
    "collection": ("Baseline data access per identity", "D3-RAPA",
                   "alert on S3 objects and bytes read per key above its own normal."),
    "exfiltration": ("Restrict egress of build runners and data paths", "D3-OTF",
                     "deny egress from runners except an allowlist; restrict bucket access "
                     "with aws:SourceVpc / aws:SourceIp conditions."),
    "defense-evasion": ("Protect the audit trail", "D3-AZET",
                        "deny cloudtrail:StopLogging/DeleteTrail with an SCP; alert on any "
                        "change to trails, detectors and flow logs."),
    "lateral-movement": ("Constrain cross-account trust", "D3-UAP",
                         "limit which principals may assume roles in other accounts and "
                         "require external IDs or session tags."),
}
_SUPPLY_CHAIN = [
    ("Pin and verify CI/CD dependencies", "D3-SBV",
     "pin every third-party action and tool by digest or commit and verify signatures; "
     "`trailhound audit-ci` lists what is not."),
    ("Keep an inventory of pipeline dependencies", "D3-SWI",
     "know which workflows run which scanners and actions, to act on advisories the same day."),
]


def lessons_for(stages: set[str], incident: bool) -> list[tuple[str, str, str]]:
    out = list(_ALWAYS) if incident else []
    out += [v for s, v in _BY_STAGE.items() if s in stages]
    out += _SUPPLY_CHAIN
    seen: set[str] = set()
    unique = []
    for item in out:
        if item[0] not in seen:
            seen.add(item[0])
            unique.append(item)
    return unique
