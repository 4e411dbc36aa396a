"""trailhound's own supply chain: rule files are data, the code it runs is its own and its
locked dependencies', and every dependency is pinned with hashes.

- Every YAML file the package ships (rules, mappings, stage and known-bad data) loads with
  `yaml.safe_load`, and no module in src uses a YAML loader that can construct objects.
- A real hunt runs in a fresh interpreter with an audit hook (`sys.addaudithook`) recording
  every `import` and every `open` of a `.py`/`.pyc`/`.so` file: every module imported is from
  the standard library, trailhound, or a distribution in requirements/dev.lock; every code
  file opened is inside the interpreter's own prefix or src/trailhound. A rules folder holding
  a `.py` file is read as data only (the file is never opened as code).
- The locks pin every requirement with `==` and at least one `--hash`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import cloudtrail as ct

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "src" / "trailhound"
LOCKS = ["dev.lock", "main.lock", "spark.lock", "build.lock", "fuzz.lock", "audit.lock"]


def shipped_yaml() -> list[Path]:
    return sorted(p for p in PKG.rglob("*") if p.suffix in (".yml", ".yaml"))


def test_every_shipped_yaml_is_plain_data() -> None:
    files = shipped_yaml()
    assert len(files) >= 27 + 2, "built-in rules and mappings expected"
    assert any("rules/builtin" in p.as_posix() for p in files)
    assert any("rules/mappings" in p.as_posix() for p in files)
    for p in files:
        text = p.read_text()
        assert "!!python" not in text and "!python" not in text, p
        yaml.safe_load(text)  # raises on any tag that would construct an object


UNSAFE_YAML = re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\s*\(|Loader\s*=\s*"
                         r"yaml\.(Loader|UnsafeLoader|FullLoader)|\bpickle\b|\bmarshal\.load")


def test_no_module_uses_an_object_constructing_loader() -> None:
    hits = [f"{p.relative_to(REPO)}:{n}" for p in PKG.rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if UNSAFE_YAML.search(line) and "SafeLoader" not in line]
    assert hits == []


def lock_names(lock: Path) -> set[str]:
    return {re.split(r"[=\[ ]", line, maxsplit=1)[0].lower().replace("_", "-")
            for line in lock.read_text().splitlines() if re.match(r"^[A-Za-z0-9]", line)}


@pytest.mark.parametrize("lock", LOCKS)
def test_locks_pin_every_requirement_with_hashes(lock: str) -> None:
    text = (REPO / "requirements" / lock).read_text()
    reqs = re.split(r"\n(?=[A-Za-z0-9])", text[re.search(r"^[A-Za-z0-9]", text, re.M).start():])
    assert reqs
    for req in reqs:
        head = req.splitlines()[0]
        assert re.match(r"^[A-Za-z0-9._\[\],-]+==[^ ]+ \\$", head), head
        assert "--hash=sha256:" in req, head


PROBE = r"""
import json, sys, os
events = {"import": set(), "open": set()}
def hook(event, args):
    if event == "import":
        events["import"].add(args[0].split(".")[0])
    elif event == "open" and isinstance(args[0], str) and args[0].endswith((".py", ".pyc", ".so")):
        events["open"].add(os.path.realpath(args[0]))
sys.addaudithook(hook)
from trailhound.cli import main
code = main(sys.argv[2:])
# Attempted imports include optional ones that were not found; what counts is what loaded.
# (Modules without a file, such as Cython's `cython_runtime`, were not loaded from disk.)
loaded = sorted({n.split(".")[0] for n, m in list(sys.modules.items())
                 if isinstance(getattr(m, "__file__", None), str)})
files = sorted({os.path.realpath(f) for m in list(sys.modules.values())
                if isinstance(f := getattr(m, "__file__", None), str)})
json.dump({"code": code, "attempted": sorted(events["import"]), "import": loaded,
           "open": sorted(events["open"]), "files": files}, open(sys.argv[1], "w"))
"""


def test_a_hunt_loads_code_only_from_the_package_and_the_lock(tmp_path: Path) -> None:
    from importlib.metadata import packages_distributions

    recs = [ct.get_caller_identity(ua="TruffleHog"),
            ct.create_access_key("web-admin", "AKIANEWKEY0000000001"),
            ct.record("GetObject", source="s3.amazonaws.com",
                      request={"bucketName": "b", "key": "k"})]
    ct.write_aws_layout(tmp_path / "logs", recs)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "evil.py").write_text("raise SystemExit('rule folder code was executed')\n")
    (rules / "x.yml").write_text((PKG / "rules" / "builtin" /
                                  "credential_access_validator_user_agent.yml").read_text()
                                 .replace("id: credential_access_validator_user_agent",
                                          "id: extra_copy"))
    out = tmp_path / "probe.json"
    r = subprocess.run([sys.executable, "-c", PROBE, str(out), "hunt", str(tmp_path / "logs"),
                        "--out", str(tmp_path / "out"), "--rules", str(rules)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    seen = json.loads(out.read_text())
    assert seen["code"] == 0

    locked = lock_names(REPO / "requirements" / "dev.lock")
    dists = packages_distributions()
    outside = []
    for mod in seen["import"]:
        if mod in sys.stdlib_module_names or mod in ("trailhound", "__main__") or mod.startswith(
                "_"):
            continue
        owners = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        if not owners & locked:
            outside.append((mod, sorted(owners)))
    assert outside == [], f"loaded at run time from outside stdlib + lock: {outside}"

    allowed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), PKG.resolve()]
    stray = [p for p in seen["open"] + seen["files"]
             if not any(Path(p).is_relative_to(a) for a in allowed)]
    assert stray == [], "code files opened outside the interpreter and the package"
    assert not any(p.endswith("evil.py") for p in seen["open"])
    assert "trailhound" in seen["attempted"] and len(seen["open"]) > 20  # the hook did record
