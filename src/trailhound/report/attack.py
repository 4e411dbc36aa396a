"""ATT&CK names for the techniques and tactics trailhound reports (public MITRE ATT&CK
Enterprise data), so STIX attack patterns and OCSF attack objects carry names, not bare ids."""

from __future__ import annotations

TECHNIQUES = {
    "T1078.004": "Valid Accounts: Cloud Accounts",
    "T1087.004": "Account Discovery: Cloud Account",
    "T1098.001": "Account Manipulation: Additional Cloud Credentials",
    "T1098.003": "Account Manipulation: Additional Cloud Roles",
    "T1136.003": "Create Account: Cloud Account",
    "T1195.001": "Supply Chain Compromise: Compromise Software Dependencies and "
                 "Development Tools",
    "T1485": "Data Destruction",
    "T1496": "Resource Hijacking",
    "T1526": "Cloud Service Discovery",
    "T1528": "Steal Application Access Token",
    "T1530": "Data from Cloud Storage",
    "T1537": "Transfer Data to Cloud Account",
    "T1550.001": "Use Alternate Authentication Material: Application Access Token",
    "T1552.005": "Unsecured Credentials: Cloud Instance Metadata API",
    "T1555.006": "Credentials from Password Stores: Cloud Secrets Management Stores",
    "T1562.008": "Impair Defenses: Disable or Modify Cloud Logs",
    "T1580": "Cloud Infrastructure Discovery",
    "T1619": "Cloud Storage Object Discovery",
}

# trailhound stage -> (ATT&CK tactic id, tactic name)
TACTICS = {
    "credential-validation": ("TA0001", "Initial Access"),
    "discovery": ("TA0007", "Discovery"),
    "persistence": ("TA0003", "Persistence"),
    "privilege-escalation": ("TA0004", "Privilege Escalation"),
    "lateral-movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "defense-evasion": ("TA0005", "Defense Evasion"),
    "impact": ("TA0040", "Impact"),
}


def technique_name(tid: str) -> str:
    return TECHNIQUES.get(tid, tid)


def technique_url(tid: str) -> str:
    return "https://attack.mitre.org/techniques/" + tid.replace(".", "/") + "/"


def technique_stage(tid: str) -> str | None:
    """The stage the taxonomy files this technique under (first match), if any."""
    from trailhound.correlate.stages import taxonomy

    for entry in taxonomy():
        if entry.get("technique") == tid:
            return str(entry["stage"])
    return None
