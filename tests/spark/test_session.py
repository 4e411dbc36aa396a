"""Where the Spark master comes from: the flag, then what spark-submit itself reads
(PYSPARK_SUBMIT_ARGS, spark-defaults.conf, MASTER), then local[*]. Pure functions: no JVM."""

from __future__ import annotations

import pytest

from trailhound.spark.session import resolve_master, spark_defaults


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR", "SPARK_HOME", "MASTER"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_order_of_precedence(clean_env, tmp_path):
    assert resolve_master(None) == "local[*]"
    clean_env.setenv("MASTER", "spark://from-env:7077")
    assert resolve_master(None) == "spark://from-env:7077"
    (tmp_path / "spark-defaults.conf").write_text(
        "# comment\nspark.master   yarn\nspark.executor.memory 4g\n")
    clean_env.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert spark_defaults() == {"spark.master": "yarn", "spark.executor.memory": "4g"}
    assert resolve_master(None) == "yarn"
    clean_env.setenv("PYSPARK_SUBMIT_ARGS", "--master local[3] --conf a=b pyspark-shell")
    assert resolve_master(None) == "local[3]"
    assert resolve_master("k8s://https://api:6443") == "k8s://https://api:6443"


def test_spark_home_conf_is_read_when_no_conf_dir(clean_env, tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "spark-defaults.conf").write_text("spark.master local[5]\n")
    clean_env.setenv("SPARK_HOME", str(tmp_path))
    assert resolve_master(None) == "local[5]"


def test_a_local_driver_gets_a_heap_sized_to_the_machine_unless_configured(clean_env, tmp_path):
    from trailhound.spark.session import _configured, local_driver_memory

    assert local_driver_memory() in {"1g", "2g", "3g", "4g"}
    assert not _configured("spark.driver.memory")
    clean_env.setenv("PYSPARK_SUBMIT_ARGS", "--driver-memory 8g pyspark-shell")
    assert _configured("spark.driver.memory")
    clean_env.setenv("PYSPARK_SUBMIT_ARGS", "pyspark-shell")
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.memory 6g\n")
    clean_env.setenv("SPARK_CONF_DIR", str(tmp_path))
    assert _configured("spark.driver.memory")
