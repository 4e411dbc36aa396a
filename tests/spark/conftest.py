"""One Spark context for the whole Spark suite (local[2], loopback only, no UI).

Starting a JVM costs seconds and a cold JVM runs its first queries several times slower than
a warm one, so every test shares the context; each test still gets its own session (its own
temp views) through `SparkEngine`, as a CLI run does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest


def _missing() -> str | None:
    """Why the Spark suite cannot run here, or None: Spark is an optional component (the
    `spark` extra and a Java 17+ runtime), the only reason a Spark test may skip."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (the `spark` extra)"
    home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (home and (Path(home) / "bin" / "java").exists()):
        return "no Java runtime (Spark needs Java 17+; Debian: openjdk-17-jre-headless)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = _missing()
    if why:
        skip = pytest.mark.skip(reason=f"Spark suite skipped: {why}")
        for item in items:
            if "spark" in item.keywords:
                item.add_marker(skip)

TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "2g",
}


@pytest.fixture(scope="session")
def spark_conf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    local = tmp_path_factory.mktemp("spark-local")
    return {**TEST_CONF, "spark.local.dir": str(local)}


@pytest.fixture
def spark_engine(spark_conf: dict[str, str]):
    """A fresh trailhound session on the shared local[2] context."""
    from trailhound.store.engines import SparkEngine

    return SparkEngine("local[2]", conf=spark_conf)
