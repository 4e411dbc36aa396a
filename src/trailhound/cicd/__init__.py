"""CI/CD supply-chain audit: find what let the reference attack start.

The breach trailhound was built for began with a backdoored Trivy scanner running in a
pipeline that had a long-lived AWS key in reach. `audit()` reads GitHub Actions workflows,
composite actions and GitLab CI files and reports mutable references, run-time installs,
long-lived cloud keys, over-broad tokens, privileged triggers, script injection, missing
egress control and known-compromised versions; it also lists every pipeline dependency and
emits credential profiles that tell CloudTrail analysis what the CI key's legitimate use
looks like. This package imports nothing from correlate/report.
"""

from __future__ import annotations

from trailhound.cicd.audit import AuditPathError, audit
from trailhound.cicd.checks.rules import RULES
from trailhound.cicd.model import SEVERITIES, AuditResult, Dependency, FileError, Finding
from trailhound.cicd.profiles import CredentialProfile, load_profiles, write_profiles
from trailhound.cicd.sarif import to_sarif

__all__ = [
    "RULES",
    "SEVERITIES",
    "AuditPathError",
    "AuditResult",
    "CredentialProfile",
    "Dependency",
    "FileError",
    "Finding",
    "audit",
    "load_profiles",
    "to_sarif",
    "write_profiles",
]
