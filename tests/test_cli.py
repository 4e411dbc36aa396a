"""The CLI contract: help, version, one-line errors with exit 2, and the ingest summary."""

from __future__ import annotations

import json
import subprocess
import sys

import cloudtrail as ct
from trailhound import __version__


def test_help_lists_commands(cli):
    code, out, _ = cli("--help")
    assert code == 0
    assert "ingest" in out


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and __version__ in out


def test_missing_source_is_exit_2_with_one_line(cli, tmp_path):
    code, _out, err = cli("ingest", str(tmp_path / "missing"), "--store", str(tmp_path / "s"))
    assert code == 2
    assert err.count("\n") == 1 and "no such file" in err
    assert "Traceback" not in err


def test_usage_error_is_one_line(cli):
    code, _, err = cli("ingest")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("trailhound: error:")


def test_unknown_command_exit_2(cli):
    code, _, err = cli("frobnicate")
    assert code == 2 and err.count("\n") == 1


def test_ingest_summary_table_and_json(cli, tmp_path):
    ct.write_aws_layout(tmp_path / "src", [ct.record("ListUsers") for _ in range(7)])
    code, out, _ = cli("ingest", str(tmp_path / "src"), "--store", str(tmp_path / "s"))
    assert code == 0
    assert "events stored" in out and "events/s" in out
    code, out, _ = cli("ingest", str(tmp_path / "src"), "--store", str(tmp_path / "s"),
                       "--format", "json")
    data = json.loads(out)
    assert data["objects_unchanged"] == 1 and data["events_stored"] == 0


def test_hostile_file_names_are_escaped_in_the_summary(cli, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "evil\x1b[31m\u202e.json").write_text("{not json")
    code, out, _ = cli("ingest", str(src), "--store", str(tmp_path / "s"))
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\u001b" in out


def test_entry_point_runs_as_a_module():
    r = subprocess.run([sys.executable, "-m", "trailhound", "--version"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and __version__ in r.stdout


def test_every_command_has_help(cli):
    import typer.main

    from trailhound.cli import app

    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert {"ingest", "detect", "hunt", "demo", "simulate", "rules"} <= set(names)
    for name in names:
        code, out, _ = cli(name, "--help")
        assert code == 0, name
        assert len(out.strip().splitlines()) > 3, name
        assert group.commands[name].help, f"{name} has no help text"  # type: ignore[attr-defined]
