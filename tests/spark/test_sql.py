"""DuckDB SQL transpiled for Spark gives DuckDB's answers: each rewrite of `spark/sql.py`
checked by running the same statement on both engines, including the edge cases the rewrite
exists for (week buckets, times before the origin, a newline before the end of a match,
subscripts past the end, hostile parameter values)."""

from __future__ import annotations

import duckdb
import pytest

from trailhound.spark.connection import SparkConnection, SparkQueryError
from trailhound.spark.sql import TranslationError, translate

pytestmark = pytest.mark.spark

T = "SELECT * FROM (VALUES ({}) ) t(ts)"

CASES = {
    "time_bucket": """
        SELECT time_bucket(INTERVAL 700 SECOND, ts), time_bucket(INTERVAL 604800 SECOND, ts),
               time_bucket(INTERVAL 1 HOUR, ts), time_bucket(INTERVAL 1 DAY, ts)
        FROM (VALUES (TIMESTAMP '2026-03-18 10:00:00'), (TIMESTAMP '1990-03-18 10:20:00.5'),
                     (TIMESTAMP '2000-01-02 23:59:59')) t(ts) ORDER BY ts""",
    "ordered_lists": """
        SELECT list(x ORDER BY y), list(DISTINCT x ORDER BY x),
               list(DISTINCT x ORDER BY x) FILTER (y > 1), list(x ORDER BY y) FILTER (y < 3)
        FROM (VALUES ('b', 1), ('a', 2), ('b', 3), ('c', 0)) t(x, y)""",
    "full_match": r"""
        SELECT regexp_full_match(s, '[0-9]{1,3}(\.[0-9]{1,3}){3}'), regexp_full_match(s, '[0-9.]+'),
               regexp_extract(s, '^([0-9]+\.[0-9]+\.[0-9]+)\.', 1)
        FROM (VALUES ('10.1.2.3'), (E'10.1.2.3\n'), ('x10.1.2.3'), (NULL)) t(s) ORDER BY s""",
    "lists": """
        SELECT string_split(s, ':')[1:3], [1, 2, 3][2], [1, 2][5], list_slice([5, 6, 7, 8], 2, 3),
               coalesce(list_bool_or(list_transform(['ab', 'zz'], lambda m: contains(s, m))),
                        false)
        FROM (VALUES ('2001:db8:1:2:3'), ('ab')) t(s) ORDER BY s""",
    "baseline_median": """
        SELECT k, t, median(x) OVER (PARTITION BY k ORDER BY t RANGE BETWEEN
                                     INTERVAL 100 SECOND PRECEDING AND INTERVAL 1 SECOND PRECEDING)
        FROM (VALUES ('k', 4, TIMESTAMP '2026-01-01 00:00:00'),
                     ('k', 7, TIMESTAMP '2026-01-01 00:00:10'),
                     ('k', 1, TIMESTAMP '2026-01-01 00:00:20'),
                     ('k', 3, TIMESTAMP '2026-01-01 00:00:30')) t(k, x, t) ORDER BY t""",
    "tie_break": """
        SELECT arg_min(v, (t, e)) FROM (VALUES ('late', TIMESTAMP '2026-01-01 00:00:01', 'a'),
                                               ('second', TIMESTAMP '2026-01-01 00:00:00', 'b'),
                                               ('first', TIMESTAMP '2026-01-01 00:00:00', 'a'))
                                       t(v, t, e)""",
    "qualify": """
        SELECT g, v FROM (VALUES (1, 'x'), (1, 'y'), (2, 'z')) t(g, v)
        QUALIFY row_number() OVER (PARTITION BY g ORDER BY v DESC) = 1 ORDER BY g""",
}


@pytest.fixture
def both(spark_engine):
    return duckdb.connect(), SparkConnection(spark_engine.session)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewrite_gives_duckdbs_answer(both, name):
    duck, spark = both
    sql = CASES[name]
    assert spark.execute(sql).fetchall() == duck.execute(sql).fetchall()


def test_parameters_stay_values_in_any_order(both):
    duck, spark = both
    hostile = "o'k\\' OR 1=1 --"
    sql = ("SELECT $2 AS b, $1 AS a, $2 = b AS again FROM (VALUES ($2)) t(b) "
           "WHERE list_contains($3, 'x')")
    params = [hostile, 3, ["x", "y"]]
    assert spark.execute(sql, params).fetchall() == duck.execute(sql, params).fetchall() == [
        (3, hostile, True)]
    q = "SELECT CAST(? AS VARCHAR) || '|' || CAST(? AS VARCHAR)"
    assert spark.execute(q, ["a'b", "c\\d"]).fetchone() == duck.execute(q, ["a'b", "c\\d"]
                                                                         ).fetchone()


def test_timestamps_in_parameters_are_utc_whatever_the_local_zone(both, monkeypatch):
    import time
    from datetime import datetime

    duck, spark = both
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        sql = "SELECT ? = TIMESTAMP '2026-03-19 10:00:00', ? AS t"
        t = datetime(2026, 3, 19, 10, 0, 0)
        assert spark.execute(sql, [t, t]).fetchone()[0] is True
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert duck.execute("SELECT ? = TIMESTAMP '2026-03-19 10:00:00'", [t]).fetchone() == (True,)


def test_a_json_wildcard_path_is_refused_not_guessed():
    with pytest.raises(TranslationError, match=r"\[\*\]"):
        translate("SELECT json_extract(request_parameters, '$.a[*].b') FROM events")


def test_errors_are_duckdb_errors_with_one_line(both):
    _, spark = both
    with pytest.raises(duckdb.Error) as e:
        spark.execute("SELECT no_such_column FROM (VALUES (1)) t(x)").fetchall()
    assert isinstance(e.value, SparkQueryError)
    assert "\n" not in str(e.value)
