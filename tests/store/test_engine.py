"""The store's DuckDB connections: the memory cap a user sets, and a bad one refused clearly."""

from __future__ import annotations

import cloudtrail as ct
from trailhound.store.engine import Store


def test_memory_limit_comes_from_the_environment(tmp_path, monkeypatch, cli):
    ct.write_aws_layout(tmp_path / "src", [ct.record("ListUsers") for _ in range(3)])
    code, _, _ = cli("ingest", str(tmp_path / "src"), "--store", str(tmp_path / "s"))
    assert code == 0
    st = Store(tmp_path / "s")
    try:
        def limit() -> str:
            (v,) = st.connect().execute("SELECT current_setting('memory_limit')").fetchone()
            return v

        monkeypatch.delenv("TRAILHOUND_MEMORY_LIMIT", raising=False)
        default = limit()
        monkeypatch.setenv("TRAILHOUND_MEMORY_LIMIT", "3GB")
        assert limit() != default and limit().startswith("2.7")  # DuckDB shows GiB
    finally:
        st.close()


def test_a_bad_memory_limit_is_one_line_naming_the_variable(tmp_path, monkeypatch, cli):
    ct.write_aws_layout(tmp_path / "src", [ct.record("ListUsers")])
    monkeypatch.setenv("TRAILHOUND_MEMORY_LIMIT", "lots")
    code, _, err = cli("ingest", str(tmp_path / "src"), "--store", str(tmp_path / "s"))
    assert code == 2 and err.count("\n") == 1
    assert "TRAILHOUND_MEMORY_LIMIT" in err and "'lots'" in err
