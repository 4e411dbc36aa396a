"""A Spark session behind the part of DuckDB's connection API that detect and correlate use.

`rules/run.py`, `correlate/` and the hunt talk to "a connection": `execute(sql, params)`
returning something with `fetchall()` / `fetchone()`, `register(name, arrow_table)` and
`unregister(name)`. `SparkConnection` offers exactly that over a Spark session, so the same
functions run unchanged on either engine:

- every statement is DuckDB SQL, transpiled by `spark.sql.translate` (SQLGlot) and run with its
  parameters bound by Spark (`spark.sql(text, args=[...])`), never spliced into the text;
- `CREATE [OR REPLACE] TEMP TABLE t AS SELECT ...` becomes a cached temporary view (a temp
  table is a snapshot, so it is materialised before the view replaces the old one);
  `CREATE TEMP TABLE t (col TYPE, ...)` an empty one; `INSERT INTO t SELECT ...` the union of
  the old snapshot and the new rows, cached again; `DROP TABLE` drops the view;
- DuckDB's `SET` statements (progress bar, memory) mean nothing to Spark and are accepted;
- a failing query raises `SparkQueryError`, a subclass of `duckdb.Error`, because callers
  already handle that type (detect reports a rule whose query fails and runs the others).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from trailhound.errors import TrailhoundError
from trailhound.spark.sql import TranslationError, parse_duckdb, to_spark, translate

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class SparkQueryError(duckdb.Error, TrailhoundError):
    """A statement Spark refused or failed to run (message: its first line). A `duckdb.Error`
    for the callers that handle a failing query (detect skips the rule); a `TrailhoundError`
    so that one escaping to the CLI is one line, not a traceback."""


class SparkResult:
    """A query's rows, collected on first fetch (the DuckDB result API's subset)."""

    def __init__(self, df: DataFrame | None) -> None:
        self._df = df
        self._rows: list[tuple[Any, ...]] | None = None
        self._pos = 0

    def _all(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            if self._df is None:
                self._rows = []
            else:
                rows = _guard(self._df.collect)
                self._rows = [_plain(r) for r in rows]
        return self._rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._all()[self._pos:]
        self._pos = len(self._all())
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._all()
        if self._pos >= len(rows):
            return None
        self._pos += 1
        return rows[self._pos - 1]

    def fetch_arrow_table(self) -> pa.Table:
        if self._df is None:
            return pa.table({})
        return _guard(self._df.toArrow)

    @property
    def dataframe(self) -> DataFrame | None:
        return self._df


class SparkConnection:
    """DuckDB-connection look-alike over one Spark session (see the module docstring)."""

    def __init__(self, session: SparkSession, *, tmp_dir: Path | None = None) -> None:
        self.spark = session
        # Where the engine stages what its executors write for the driver's side to read
        # (the store's tmp/: on a cluster a path both can reach, as the store must be).
        self.tmp_dir = tmp_dir
        self._cached: dict[str, DataFrame] = {}

    # -- the DuckDB API subset ------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> SparkResult:
        try:
            tree = parse_duckdb(sql)
        except TranslationError as e:
            raise SparkQueryError(str(e)) from None
        if isinstance(tree, exp.Set | exp.Pragma | exp.Command) and not isinstance(
                tree, exp.Select):
            return SparkResult(None)
        if isinstance(tree, exp.Create):
            self._create(tree, params)
            return SparkResult(None)
        if isinstance(tree, exp.Insert):
            self._insert(tree, params)
            return SparkResult(None)
        if isinstance(tree, exp.Drop):
            for table in tree.find_all(exp.Table):
                self._drop(table.name)
            return SparkResult(None)
        return SparkResult(self.query(sql, params))

    def register(self, name: str, table: pa.Table) -> SparkConnection:
        df = _guard(self.spark.createDataFrame, table) if table.num_rows else (
            self.spark.createDataFrame([], _spark_schema(table.schema)))
        self._replace(name, df, cache=False)
        return self

    def unregister(self, name: str) -> SparkConnection:
        self._drop(name)
        return self

    def close(self) -> None:
        """Drop this connection's views and cached tables (the Spark context stays up: it
        may be shared, and starting one costs seconds)."""
        for name in list(self._cached):
            self._drop(name)

    # -- beyond DuckDB's API: what the Spark engine needs itself ----------------------------

    def query(self, sql: str, params: Sequence[Any] | None = None) -> DataFrame:
        """The DataFrame of one DuckDB SELECT (lazy)."""
        try:
            t = translate(sql)
            args = [_arg(v) for v in t.args(params)]
        except TranslationError as e:
            raise SparkQueryError(str(e)) from None
        return _guard(self.spark.sql, t.sql, args=args or None)

    def define_view(self, name: str, df: DataFrame, *, cache: bool = False) -> None:
        self._replace(name, df, cache=cache)

    # -- statements -----------------------------------------------------------------------

    def _select_df(self, select: exp.Expression, params: Sequence[Any] | None) -> DataFrame:
        try:
            t = to_spark(select)
            args = [_arg(v) for v in t.args(params)]
        except TranslationError as e:
            raise SparkQueryError(str(e)) from None
        return _guard(self.spark.sql, t.sql, args=args or None)

    def _create(self, tree: exp.Create, params: Sequence[Any] | None) -> None:
        kind = (tree.args.get("kind") or "").upper()
        target = tree.this
        if kind not in ("TABLE", "VIEW"):
            raise SparkQueryError(f"CREATE {kind} is not supported on Spark")
        if isinstance(target, exp.Schema):  # CREATE TEMP TABLE t (col TYPE, ...)
            name = target.this.name
            ddl = ", ".join(f"`{c.name}` {c.args['kind'].sql(dialect='spark')}"
                            for c in target.expressions if isinstance(c, exp.ColumnDef))
            df = _guard(self.spark.createDataFrame, [], ddl)
            self._replace(name, df, cache=False)
            return
        name = target.name
        select = tree.expression
        if select is None:
            raise SparkQueryError("CREATE without AS SELECT or columns")
        df = self._select_df(select, params)
        self._replace(name, df, cache=kind == "TABLE")

    def _insert(self, tree: exp.Insert, params: Sequence[Any] | None) -> None:
        target = tree.this
        if isinstance(target, exp.Schema):
            raise SparkQueryError("INSERT with a column list is not supported on Spark")
        name = target.name
        old = self._cached.get(name)
        if old is None:
            raise SparkQueryError(f"INSERT INTO {name}: not a table of this connection")
        new = self._select_df(tree.expression, params)
        # DuckDB inserts by position, casting to the table's types.
        cols = [new[c].cast(f.dataType).alias(f.name)
                for c, f in zip(new.columns, old.schema.fields, strict=True)]
        self._replace(name, old.unionAll(new.select(*cols)), cache=True)

    def _replace(self, name: str, df: DataFrame, *, cache: bool) -> None:
        if cache:
            from pyspark import StorageLevel

            df = df.persist(StorageLevel.MEMORY_AND_DISK)
            _guard(df.count)  # a temp table is a snapshot: materialise it now
        _guard(df.createOrReplaceTempView, name)
        previous = self._cached.get(name)
        self._cached[name] = df
        if previous is not None and previous is not df:
            previous.unpersist()

    def _drop(self, name: str) -> None:
        df = self._cached.pop(name, None)
        self.spark.catalog.dropTempView(name)
        if df is not None:
            df.unpersist()


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a Spark call; its errors become `SparkQueryError` with the first line of Spark's
    message (the JVM stack trace stays out of the user's terminal)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        return fn(*args, **kwargs)
    except (PySparkException, Py4JError) as e:
        text = str(e).strip()
        raise SparkQueryError(text.splitlines()[0] if text else type(e).__name__) from e


def _arg(value: Any) -> Any:
    """A parameter value as Spark binds it (Spark takes literals only, no casts). A naive
    datetime is UTC here; PySpark would read it in the driver's local zone, so it goes as an
    aware UTC instant (compared with the NTZ columns in the session zone, UTC: exact)."""
    from datetime import UTC

    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, set | frozenset | tuple):
        return [_arg(v) for v in sorted(value)] if isinstance(value, set | frozenset) else [
            _arg(v) for v in value]
    if isinstance(value, list):
        return [_arg(v) for v in value]
    return value


def _plain(row: Any) -> tuple[Any, ...]:
    return tuple(_plain_value(v) for v in row)


def _plain_value(v: Any) -> Any:
    from pyspark.sql import Row

    if isinstance(v, Row):
        return tuple(_plain_value(x) for x in v)
    if isinstance(v, list):
        return [_plain_value(x) for x in v]
    return v


def _spark_schema(schema: pa.Schema) -> str:
    """A DDL schema for an empty Arrow table (Spark cannot infer types from no rows)."""
    names = {pa.string(): "string", pa.large_string(): "string", pa.int64(): "bigint",
             pa.int32(): "int", pa.bool_(): "boolean", pa.float64(): "double",
             pa.date32(): "date"}
    cols = []
    for f in schema:
        if pa.types.is_timestamp(f.type):
            t = "timestamp_ntz"
        else:
            t = names.get(f.type)
            if t is None:
                raise SparkQueryError(f"cannot register an empty column of type {f.type}")
        cols.append(f"`{f.name}` {t}")
    return ", ".join(cols)
