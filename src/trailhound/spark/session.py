"""The Spark session trailhound runs on, configured the way Spark users configure Spark.

Where settings come from, in Spark's own order of precedence: `--spark-master` (the one flag
trailhound adds), then `PYSPARK_SUBMIT_ARGS`, `$SPARK_CONF_DIR/spark-defaults.conf` (or
`$SPARK_HOME/conf/`), the `MASTER` variable, and finally `local[*]`. Nothing else is
overridden, so executor memory, `spark.hadoop.fs.s3a.*` credentials, `spark.jars.packages` for
hadoop-aws and the rest are set exactly as for any PySpark job.

What trailhound does set, on its own session (`SparkSession.newSession()`, so temp views and SQL
settings never leak into a notebook's session that happens to share the context):

- `spark.sql.session.timeZone=UTC` and `spark.sql.timestampType=TIMESTAMP_NTZ`: event times are
  naive UTC in the store, as in DuckDB; without these, Spark would shift them by the driver's
  zone when results are collected.
- In local mode only: the Python workers run this interpreter (`PYSPARK_PYTHON`, unless set),
  so they import the same trailhound, DuckDB and PyArrow as the driver; and the driver binds
  to 127.0.0.1 unless `spark.driver.host` / `SPARK_LOCAL_IP` say otherwise (nothing outside the
  machine needs to reach a local-mode driver); and unless `spark.sql.shuffle.partitions` is
  configured, shuffles use two partitions per local core instead of Spark's 200, which are
  sized for a cluster: a hunt is hundreds of small queries, and 200 tasks per shuffle on two
  cores was 40% of a small correlation's time (measured on the simulator's 4-day corpus).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailhound.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "trailhound"

# SQL settings every trailhound session needs for results identical to DuckDB's.
SESSION_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
}


SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"


def require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise UsageError("--engine spark needs PySpark: pip install 'trailhound[spark]' "
                         "(and Java 17 or later)") from None


def spark_defaults() -> dict[str, str]:
    """The properties of the spark-defaults.conf spark-submit would read, if there is one."""
    conf_dir = os.environ.get("SPARK_CONF_DIR")
    if not conf_dir and os.environ.get("SPARK_HOME"):
        conf_dir = os.path.join(os.environ["SPARK_HOME"], "conf")
    if not conf_dir:
        return {}
    path = Path(conf_dir) / "spark-defaults.conf"
    out: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].strip()
    return out


def _submit_args() -> list[str]:
    try:
        return shlex.split(os.environ.get("PYSPARK_SUBMIT_ARGS", ""))
    except ValueError:
        return []


def _has_log_config() -> bool:
    conf_dir = os.environ.get("SPARK_CONF_DIR") or (
        os.path.join(os.environ["SPARK_HOME"], "conf") if os.environ.get("SPARK_HOME") else "")
    return bool(conf_dir) and (Path(conf_dir) / "log4j2.properties").exists()


def resolve_master(master: str | None) -> str:
    """The master Spark will use, found in the order spark-submit looks."""
    if master:
        return master
    args = _submit_args()
    for i, a in enumerate(args):
        if a == "--master" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--master="):
            return a.split("=", 1)[1]
    return spark_defaults().get("spark.master") or os.environ.get("MASTER") or "local[*]"


# Set on a context trailhound starts unless configured elsewhere. Spark's SQL listener keeps
# the full plan text of its last 1,000 queries even with the UI off; correlation's plans run to
# megabytes each (its tables are built on each other), so a long hunt, or one process running
# many, filled a 1 GB driver heap with old plan text and the JVM exited. Plans are kept short
# and few; nothing trailhound reports comes from them.
CONTEXT_DEFAULTS = {
    # The CLI draws its own progress; Spark's bar would interleave with its output.
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.ui.retainedExecutions": "50",
    "spark.sql.maxPlanStringLength": "200000",
}


def local_driver_memory() -> str:
    """The heap of a local-mode context when none is configured: a quarter of the machine's
    memory, 1-4 GB. In local mode the driver is the whole cluster (executors, cached tables,
    query plans); Spark's own 1 GB default ran a hunt of 8,000 events out of heap."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "1g"
    return f"{max(1, min(4, total // 4 // 2**30))}g"


# spark-submit's own flags for settings trailhound may default (PYSPARK_SUBMIT_ARGS).
_SUBMIT_FLAGS = {"spark.driver.memory": "--driver-memory"}


def _configured(key: str) -> bool:
    if key in spark_defaults():
        return True
    args = _submit_args()
    flag = _SUBMIT_FLAGS.get(key)
    if flag and any(a == flag or a.startswith(f"{flag}=") for a in args):
        return True
    return any(a.startswith(f"{key}=") for a in args) or any(
        a == "--conf" and i + 1 < len(args) and args[i + 1].startswith(f"{key}=")
        for i, a in enumerate(args))


def get_session(master: str | None = None, *, conf: dict[str, str] | None = None
                ) -> SparkSession:
    """A fresh trailhound session on the process's Spark context (started if needed).

    `conf` is for callers that build their own context (tests, benchmarks); it only applies
    when this call starts the context, as with any `SparkSession.builder`."""
    require_pyspark()
    from pyspark.sql import SparkSession

    resolved = resolve_master(master)
    local = resolved.startswith("local")
    builder = SparkSession.builder.appName(APP_NAME)
    if master:
        builder = builder.master(master)
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if not (_configured("spark.driver.host") or os.environ.get("SPARK_LOCAL_IP")):
            os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
            builder = builder.config("spark.driver.host", "127.0.0.1")
            builder = builder.config("spark.driver.bindAddress", "127.0.0.1")
    defaults = {**CONTEXT_DEFAULTS, **({"spark.driver.memory": local_driver_memory()}
                                       if local else {})}
    for k, v in defaults.items():
        if not _configured(k) and k not in (conf or {}):
            builder = builder.config(k, v)
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    try:
        base = builder.getOrCreate()
    except Exception as e:  # the JVM did not start: no Java, bad master URL, ...
        raise UsageError(f"cannot start Spark (master {resolved}): {_first_line(e)}") from None
    if not _has_log_config():
        # Query errors come back to trailhound as exceptions and are reported once, as one
        # line; Spark would also log each one with its whole plan. A log4j2.properties in
        # SPARK_CONF_DIR takes over from this, as it does for any Spark job.
        base.sparkContext.setLogLevel("FATAL")
    session = base.newSession()
    for k, v in SESSION_SQL_CONF.items():
        session.conf.set(k, v)
    # Configured anywhere Spark takes settings from, the context's configuration has it.
    if local and not base.sparkContext.getConf().contains(SHUFFLE_PARTITIONS):
        session.conf.set(SHUFFLE_PARTITIONS, str(2 * base.sparkContext.defaultParallelism))
    return session


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def describe(session: Any) -> str:
    """`Spark 4.x on local[2]` for summaries and benchmark records."""
    return f"Spark {session.version} on {session.sparkContext.master}"
