"""`SparkConnection` keeps the DuckDB semantics correlation relies on: a temp table is a
snapshot, INSERT appends by position, registered Arrow tables are queryable, dropped views are
gone."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from trailhound.spark.connection import SparkConnection, SparkQueryError

pytestmark = pytest.mark.spark


@pytest.fixture
def conns(spark_engine):
    return duckdb.connect(), SparkConnection(spark_engine.session)


def script(conn) -> list:
    conn.register("src_arrow", pa.table({"k": ["a", "b", "c"], "n": [1, 2, 3]}))
    conn.execute("CREATE OR REPLACE TEMP TABLE snap AS SELECT * FROM src_arrow WHERE n >= ?",
                 [2])
    conn.execute("CREATE OR REPLACE TEMP TABLE keys (k VARCHAR)")
    conn.execute("INSERT INTO keys SELECT k FROM snap")
    conn.execute("INSERT INTO keys SELECT k || '2' FROM keys WHERE k = ?", ["b"])
    # A snapshot does not follow its source; an insert reading its own table sees the old rows.
    conn.unregister("src_arrow")
    conn.register("src_arrow", pa.table({"k": ["z"], "n": [9]}))
    conn.execute("INSERT INTO snap SELECT k, n + 10 FROM snap")
    out = [conn.execute("SELECT k, n FROM snap ORDER BY n").fetchall(),
           conn.execute("SELECT k FROM keys ORDER BY k").fetchall(),
           conn.execute("SELECT count(*) FROM src_arrow").fetchall()]
    conn.register("empty_arrow", pa.table({"k": pa.array([], pa.string()),
                                           "t": pa.array([], pa.timestamp("us"))}))
    out.append(conn.execute("SELECT count(*), max(t) FROM empty_arrow").fetchall())
    conn.execute("DROP TABLE IF EXISTS keys")
    return out


def test_temp_tables_behave_as_in_duckdb(conns):
    duck, spark = conns
    assert script(spark) == script(duck)


def test_fetchone_walks_the_rows_then_returns_none(conns):
    _, spark = conns
    res = spark.execute("SELECT x FROM (VALUES (1), (2)) t(x) ORDER BY x")
    assert res.fetchone() == (1,)
    assert res.fetchall() == [(2,)]
    assert res.fetchone() is None


def test_a_dropped_table_is_gone(conns):
    _, spark = conns
    spark.execute("CREATE OR REPLACE TEMP TABLE gone AS SELECT 1 AS x")
    spark.execute("DROP TABLE gone")
    with pytest.raises(duckdb.Error):
        spark.execute("SELECT * FROM gone").fetchall()


def test_a_configured_shuffle_partition_count_is_kept(spark_conf):
    """trailhound only sizes shuffles for local mode when nobody configured them: the shared
    test context sets 2, and a trailhound session on it keeps 2 (not 2 per core)."""
    from trailhound.spark.session import SHUFFLE_PARTITIONS, get_session

    session = get_session("local[2]", conf=spark_conf)
    assert session.conf.get(SHUFFLE_PARTITIONS) == spark_conf[SHUFFLE_PARTITIONS]


def test_a_failing_query_is_one_line_and_a_duckdb_error(conns):
    """Callers (the rule runner skips a rule on `duckdb.Error`; the CLI prints one line)
    treat a Spark failure as they treat DuckDB's: no JVM stack trace reaches them."""
    _, spark = conns
    with pytest.raises(SparkQueryError) as err:
        spark.execute("SELECT no_such_column FROM (VALUES (1)) t(x)").fetchall()
    assert isinstance(err.value, duckdb.Error)
    text = str(err.value)
    assert "\n" not in text and "no_such_column" in text
    assert "at org.apache" not in text
