"""Refresh the bundled SigmaHQ AWS CloudTrail rules from a local checkout of SigmaHQ/sigma.

The rules ship inside the package so that a bare install detects with no configuration and no
network; this script is the one way they change. It copies the folder as published (no edits:
trailhound's tuning lives in `rules/mappings/sigmahq-tuning.yml`) and records the commit in
SOURCE.md. Run `make test` afterwards: the rule tests load, compile and run every rule.

    python scripts/refresh_sigmahq.py /path/to/sigma
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "src" / "trailhound" / "rules" / "sigmahq"
UPSTREAM = Path("rules") / "cloud" / "aws" / "cloudtrail"


def _git(checkout: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(checkout), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", type=Path, help="a git checkout of SigmaHQ/sigma")
    args = ap.parse_args()
    src = args.checkout / UPSTREAM
    if not src.is_dir():
        print(f"refresh_sigmahq: {src}: no such folder (is this a SigmaHQ/sigma checkout?)",
              file=sys.stderr)
        return 2
    if _git(args.checkout, "status", "--porcelain", "--", str(UPSTREAM)):
        print(f"refresh_sigmahq: {src} has local changes; bundle a published commit only",
              file=sys.stderr)
        return 2
    commit = _git(args.checkout, "rev-parse", "HEAD")
    files = sorted(src.glob("*.yml"))
    dest = HERE / "cloudtrail"
    shutil.rmtree(dest)
    dest.mkdir()
    for f in files:
        shutil.copyfile(f, dest / f.name)
    newest = max((m for f in files
                  for m in re.findall(r"^(?:date|modified): (\S+)", f.read_text("utf-8"), re.M)),
                 default="unknown")
    source = HERE / "SOURCE.md"
    text = source.read_text("utf-8")
    text = re.sub(r"\| commit \| `[0-9a-f]+` \|", f"| commit | `{commit}` |", text)
    text = re.sub(r"\| bundled on \| .* \|",
                  f"| bundled on | {datetime.now(UTC):%Y-%m-%d} (newest rule in the set: "
                  f"`date: {newest}`) |", text)
    text = re.sub(r"-> `cloudtrail/` here \(\d+ rules\)",
                  f"-> `cloudtrail/` here ({len(files)} rules)", text)
    source.write_text(text, "utf-8")
    print(f"bundled {len(files)} rules from SigmaHQ/sigma@{commit}; now run `make test`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
