"""File handling: discovery, malformed YAML, hostile YAML, odd shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from trailhound.cicd import AuditPathError, audit

WF = Path(__file__).parent / "workflows"


def test_malformed_yaml_is_an_error_entry_and_others_still_audited() -> None:
    res = audit([WF / "malformed.bad.yml", WF / "permissions-missing.pos.yml"])
    assert [e.path.endswith("malformed.bad.yml") for e in res.errors] == [True]
    assert "\n" not in res.errors[0].reason and "line 8" in res.errors[0].reason
    assert {f.rule_id for f in res.findings} == {"permissions-missing"}


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(AuditPathError):
        audit([tmp_path / "nope"])


def test_repo_root_discovery(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "ci.yaml").write_text((WF / "permissions-missing.pos.yml").read_text())
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx\n")
    (tmp_path / "k8s.yml").write_text("kind: [unclosed\n")  # not ours: ignored, not an error
    act = tmp_path / ".github" / "actions" / "x"
    act.mkdir(parents=True)
    (act / "action.yaml").write_text("runs:\n  using: composite\n  steps:\n"
                                     "    - uses: a/b@v1\n")
    nm = tmp_path / "node_modules" / "pkg" / ".github" / "workflows"
    nm.mkdir(parents=True)
    (nm / "w.yml").write_text("on: push\njobs: {}\n")
    res = audit([tmp_path])
    assert res.files == [".github/actions/x/action.yaml", ".github/workflows/ci.yaml"]
    assert res.errors == []
    assert {f.path for f in res.findings} == set(res.files)


def test_explicit_non_pipeline_file_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "compose.yml"
    f.write_text("services:\n  web:\n    image: nginx\n")
    res = audit([f])
    assert res.findings == [] and len(res.errors) == 1


def test_unsafe_tags_are_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    f = tmp_path / "w.yml"
    f.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: x\n    steps:\n"
                 f"      - run: !!python/object/apply:os.system ['touch {marker}']\n")
    res = audit([f])
    assert not marker.exists()
    assert res.errors == [] or "python" in res.errors[0].reason


def test_alias_bomb_is_cheap(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]" for i in range(1, 9)]
    f = tmp_path / "bomb.yml"
    f.write_text("\n".join(lines) + "\non: push\njobs:\n  j:\n    runs-on: *a8\n")
    res = audit([f])  # must return quickly, not expand 10**9 nodes
    assert [Path(x).name for x in res.files] == ["bomb.yml"]


def test_odd_shapes_do_not_crash(tmp_path: Path) -> None:
    f = tmp_path / "odd.yml"
    f.write_text("on: push\npermissions: {}\njobs:\n  a: just a string\n  b:\n    steps: 3\n"
                 "  c:\n    steps:\n      - 5\n      - uses: 7\n      - run: [1, 2]\n"
                 "    env: [x]\n    container: {}\n    services: 4\n")
    res = audit([f])
    assert res.errors == []


def test_on_key_is_not_a_boolean(tmp_path: Path) -> None:
    f = tmp_path / "w.yml"
    f.write_text("on:\n  pull_request_target:\npermissions: {}\njobs:\n  a:\n    runs-on: x\n"
                 "    steps:\n      - run: echo hi\n")
    assert [x.rule_id for x in audit([f]).findings] == ["dangerous-trigger"]


def test_c_and_python_safe_loaders_agree() -> None:
    import yaml

    from trailhound.cicd.yamlnodes import load

    def flat(v, out, path=""):  # (path, value, line) for every scalar
        if isinstance(v, dict):
            for k, x in v.items():
                out.append((f"{path}/{k}", "key", v.key_lines[k]))
                flat(x, out, f"{path}/{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                flat(x, out, f"{path}[{i}]")
        elif v is not None:
            out.append((path, str(v), v.line, v.block))
        return out

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    for f in sorted(WF.rglob("*.y*ml")):
        if "malformed" in f.name:
            continue
        text = f.read_text()
        assert flat(load(text, loader=yaml.SafeLoader), []) == flat(
            load(text, loader=yaml.CSafeLoader), []), f


def test_any_text_gives_findings_or_an_error_never_an_exception(tmp_path: Path) -> None:
    """Lines of real fixtures shuffled, cut and re-indented: whatever the shape, the audit
    returns (findings or one error entry), it never raises."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pool = [ln for f in sorted(WF.rglob("*.y*ml")) for ln in f.read_text().splitlines()]
    target = tmp_path / "fuzz.yml"

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.sampled_from(pool), st.integers(0, 3)), max_size=40))
    def run(lines: list[tuple[str, int]]) -> None:
        target.write_text("on: push\njobs:\n" + "\n".join(" " * (2 * i) + ln.strip()
                                                         for ln, i in lines) + "\n")
        res = audit([target])
        assert len(res.files) == 1
        assert len(res.errors) <= 1

    run()
