"""How fast `trailhound audit-ci` audits a folder of workflows (target: 200 in < 2 s).

    .venv/bin/python bench/audit_ci.py [--files 200] [--repeat 3] [--seed 1] [--record]

Generates `--files` varied GitHub workflows (build/test matrices, deploys with AWS keys or
OIDC, scanners by tag or SHA, pull_request_target, injection, GitLab files, composite actions,
a malformed file) into a temporary folder, then times the real command end to end in a fresh
process (`python -m trailhound audit-ci DIR --format json`: interpreter start and imports
included, which is what a CI job waits for), that process's CPU time (user+sys: steadier
than wall time on a shared machine), and the in-process `audit()` call alone.
`--record` appends a dated section with the machine to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine_info import describe

RESULTS = Path(__file__).with_name("RESULTS.md")
SHA = "0123456789abcdef0123456789abcdef01234567"
ACTIONS = ["actions/checkout", "actions/setup-node", "actions/setup-python", "actions/cache",
           "codecov/codecov-action", "docker/build-push-action", "aquasecurity/trivy-action",
           "tj-actions/changed-files", "github/codeql-action/init", "peter-evans/create-pr",
           "aws-actions/configure-aws-credentials", "reviewdog/action-shellcheck"]
TRIGGERS = ["push", "pull_request", "pull_request_target", "workflow_run", "issues",
            "schedule", "workflow_dispatch", "issue_comment"]


def _step(rng: random.Random, i: int) -> str:
    kind = rng.random()
    if kind < 0.45:
        a = rng.choice(ACTIONS)
        ref = rng.choice([SHA, "v4", "main", "v0.28.0", "v45", SHA])
        extra = ""
        if a == "aws-actions/configure-aws-credentials":
            extra = rng.choice([
                "\n        with:\n          aws-access-key-id: ${{ secrets.AWS_KEY }}\n"
                "          aws-secret-access-key: ${{ secrets.AWS_SECRET }}\n"
                "          aws-region: eu-west-1",
                "\n        with:\n          role-to-assume: arn:aws:iam::1:role/ci\n"
                "          aws-region: eu-west-1"])
        return f"      - uses: {a}@{ref}{extra}\n"
    if kind < 0.55:
        return ("      - run: curl -sfL https://raw.githubusercontent.com/aquasecurity/trivy/"
                "main/contrib/install.sh | sh -s -- -b /usr/local/bin v0.69.3\n")
    if kind < 0.65:
        return ("      - run: |\n          echo \"${{ github.event.pull_request.title }}\"\n"
                f"          make step{i}\n")
    if kind < 0.75:
        return ("      - run: aws s3 sync ./out s3://bucket-" + str(i) + "\n"
                "        env:\n          AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}\n"
                "          AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n")
    if kind < 0.85:
        return f"      - run: docker run --rm aquasec/trivy:0.69.{rng.randrange(7)} fs .\n"
    lines = "\n".join(f"          echo line {j} && make target-{j}"
                      for j in range(rng.randrange(3, 25)))
    return f"      - name: build {i}\n        run: |\n{lines}\n"


def workflow(rng: random.Random, n: int) -> str:
    trig = rng.sample(TRIGGERS, rng.randrange(1, 4))
    perms = rng.choice(["", "permissions: {}\n", "permissions: write-all\n",
                        "permissions:\n  contents: read\n  id-token: write\n"])
    jobs = []
    for j in range(rng.randrange(1, 5)):
        steps = "".join(_step(rng, k) for k in range(rng.randrange(2, 12)))
        container = rng.choice(["", "    container: node:20\n",
                                f"    container: node:20@sha256:{'a' * 64}\n"])
        services = rng.choice(["", "    services:\n      db:\n        image: postgres:16\n"])
        jobs.append(f"  job{j}:\n    runs-on: {rng.choice(['ubuntu-latest', '[self-hosted]'])}\n"
                    f"{container}{services}    steps:\n{steps}")
    on = "on: [" + ", ".join(trig) + "]\n"
    return f"name: wf{n}\n{on}{perms}jobs:\n" + "".join(jobs)


def gitlab(rng: random.Random, n: int) -> str:
    return (f"include:\n  - project: g/t\n    ref: main\n    file: /t{n}.yml\n"
            "variables:\n  AWS_ACCESS_KEY_ID: $KEY\n  AWS_SECRET_ACCESS_KEY: $SECRET\n"
            f"build:\n  image: python:3.{rng.randrange(8, 13)}\n  script:\n"
            "    - pip install -r requirements.txt\n    - aws s3 cp dist s3://b/ --recursive\n")


def generate(root: Path, files: int, seed: int) -> None:
    rng = random.Random(seed)
    wf = root / ".github" / "workflows"
    wf.mkdir(parents=True)
    for i in range(files - 4):
        (wf / f"wf{i:03d}.yml").write_text(workflow(rng, i))
    (wf / "broken.yml").write_text("on: push\njobs:\n  a: [unclosed\n")
    for k in range(2):
        d = root / f"svc{k}"
        d.mkdir()
        (d / ".gitlab-ci.yml").write_text(gitlab(rng, k))
    act = root / ".github" / "actions" / "setup"
    act.mkdir(parents=True)
    (act / "action.yml").write_text("runs:\n  using: composite\n  steps:\n"
                                    "    - uses: some/helper@v1\n")




def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    from trailhound.cicd import audit

    mach = describe()
    with tempfile.TemporaryDirectory(prefix="audit-ci-bench-") as tmp:
        root = Path(tmp)
        generate(root, args.files, args.seed)
        cli_times, api_times, cpu_times = [], [], []
        findings = files = 0
        for _ in range(args.repeat):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "trailhound", "audit-ci", str(root),
                                   "--format", "json"], capture_output=True, check=False)
            cli_times.append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_times.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr.decode())
                return 1
            t0 = time.perf_counter()
            res = audit([root])
            api_times.append(time.perf_counter() - t0)
            findings, files = len(res.findings), len(res.files)
            errors = len(res.errors)
    lines = [
        f"files audited: {files} ({errors} malformed, reported as errors); findings: {findings}",
        f"audit-ci end to end (fresh process, --format json): best {min(cli_times):.2f} s; "
        f"runs {', '.join(f'{t:.2f}' for t in cli_times)} s",
        f"CPU time of that process (user+sys, less sensitive to other load): best "
        f"{min(cpu_times):.2f} s",
        f"audit() in process: best {min(api_times):.2f} s; "
        f"runs {', '.join(f'{t:.2f}' for t in api_times)} s",
        f"target < 2 s: {'met' if min(cli_times) < 2 else 'NOT met'}",
    ]
    print(f"Machine: {mach}")
    print("\n".join(lines))
    if args.record:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(f"\n## audit-ci: {args.files} generated workflows ({when})\n\n"
                     f"Machine: {mach}.\n\n"
                     f"Command: `.venv/bin/python bench/audit_ci.py --files {args.files} "
                     f"--repeat {args.repeat} --seed {args.seed} --record`\n\n```\n"
                     + "\n".join(lines) + "\n```\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
