"""DuckDB SQL -> Spark SQL, at run time, with SQLGlot.

Rules, correlation and the store's queries are written once, in DuckDB's dialect; on Spark they
are transpiled here, never copied. SQLGlot translates almost all of it. This module adds the
few rewrites SQLGlot gets wrong or leaves to the target engine, each one checked against
DuckDB's own result by `tests/spark/test_sql.py`:

- `time_bucket(INTERVAL n SECOND, t)`: SQLGlot writes `DATE_BIN`, which Spark lacks. Rewritten
  to integer arithmetic on epoch microseconds with DuckDB's origin (2000-01-03 00:00 UTC, a
  Monday), so week-long buckets start on the same day in both engines.
- `list(x ORDER BY ...)`, `list(DISTINCT x ORDER BY x)`: Spark's `collect_list` has no order;
  sorted explicitly. `list(DISTINCT x)` becomes `collect_set`.
- `regexp_full_match(s, p)`: `s RLIKE '^(?:p)\\z'` (Java's `$` would also match before a final
  newline, `\\z` does not).
- `list_slice(l, a, b)` (inclusive bounds) -> `slice(l, a, b - a + 1)`; `list_bool_or(l)` ->
  `array_contains(l, true)` (NULL-safe under the `coalesce(..., false)` every use wraps it in).
- `arg_min(x, (a, b))`: a row constructor is a struct in Spark, ordered field by field.

Parameters stay parameters: DuckDB's `?` and `$1` become Spark's positional `?` markers and
the values travel in `spark.sql(..., args=[...])`, so no log value is ever spliced into SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

# DuckDB's time_bucket origin for intervals without months: Monday 2000-01-03 00:00:00 UTC.
_BUCKET_ORIGIN_US = 946_857_600 * 1_000_000

_UNIT_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 7 * 86400}


class TranslationError(ValueError):
    """DuckDB SQL that this module cannot express in Spark SQL (raised, never guessed)."""


@dataclass(frozen=True)
class Translated:
    """One statement in Spark SQL, and which DuckDB parameter feeds each `?` marker, in order
    (0-based indexes into the caller's parameter list)."""

    sql: str
    param_order: tuple[int, ...]

    def args(self, params: list[Any] | tuple[Any, ...] | None) -> list[Any]:
        values = list(params or [])
        try:
            return [values[i] for i in self.param_order]
        except IndexError:
            raise TranslationError(
                f"query has {len(self.param_order)} parameter markers, got {len(values)} "
                "values") from None


def parse_duckdb(sql: str) -> exp.Expression:
    """One DuckDB statement as a SQLGlot tree."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as e:
        # SQLGlot underlines the offending token with terminal escapes: keep the words.
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).splitlines()[0]
        raise TranslationError(f"SQLGlot cannot parse this DuckDB SQL: {text}") from None
    if tree is None:
        raise TranslationError("empty statement")
    return tree


def to_spark(tree: exp.Expression) -> Translated:
    """Rewrite a parsed DuckDB statement for Spark and render it."""
    tree = tree.copy()
    _tag_placeholders(tree)
    tree = _rewrite_tree(tree)
    try:
        sql = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as e:
        raise TranslationError(f"SQLGlot cannot express this in Spark SQL: {e}") from None
    order = tuple(int(m.group(1)) for m in _TAG.finditer(sql))
    return Translated(_TAG.sub("?", sql), order)


@lru_cache(maxsize=512)
def translate(sql: str) -> Translated:
    """DuckDB SQL text -> Spark SQL text (cached: rules and correlation reuse their queries
    with other parameter values)."""
    return to_spark(parse_duckdb(sql))


_TAG = re.compile(r":__th_param_(\d+)_\d+__")


def _tag_placeholders(tree: exp.Expression) -> None:
    """Name every parameter marker after the DuckDB parameter it takes (`?` the next one in
    text order, `$n` the n-th, which may repeat). The names survive the rewrites; once the
    Spark text is rendered they are read back in text order and become positional `?`."""
    markers = list(tree.find_all(exp.Placeholder))
    names = [node.name if node.name != "?" else "" for node in markers]
    for n, node in enumerate(markers):
        node.set("this", f"__th_mark_{n}__")
    text = tree.sql(dialect="duckdb")
    nxt = 0
    for n in sorted(range(len(markers)), key=lambda n: text.index(f"__th_mark_{n}__")):
        name = names[n]
        if name and not name.isdigit():
            raise TranslationError(f"named parameter ${name}: use ? or $n")
        if name:
            index = int(name) - 1
        else:
            index = nxt
            nxt += 1
        markers[n].set("this", f"__th_param_{index}_{n}__")


# ---------------------------------------------------------------------------------------------
# Rewrites


def _rewrite_tree(tree: exp.Expression) -> exp.Expression:
    """Apply `_rewrite` bottom-up (reverse pre-order: every node after its descendants), so a
    rewrite that embeds sub-expressions embeds rewritten ones."""
    for node in reversed(list(tree.dfs())):
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.ArrayAgg) and isinstance(node.parent, exp.Filter):
        return node  # rewritten with its FILTER clause, at the Filter
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Median):
        # Spark's median is an inverse-distribution aggregate and takes no window frame;
        # percentile(x, 0.5) interpolates between the two middle values as DuckDB does.
        node.set("this", exp.Anonymous(this="PERCENTILE", expressions=[
            node.this.this, exp.Literal.number("0.5")]))
        return node
    if isinstance(node, exp.Bracket):
        return _bracket(node)
    if isinstance(node, exp.DateBin):
        return _time_bucket(node)
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        return _array_agg(node.this, node.expression)
    if isinstance(node, exp.ArrayAgg):
        return _array_agg(node)
    if isinstance(node, exp.RegexpFullMatch):
        return _full_match(node)
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "list_slice":
            return _list_slice(node)
        if name == "list_bool_or":
            (arr,) = node.expressions
            return exp.ArrayContains(this=arr, expression=exp.true())
    if isinstance(node, exp.ArgMin | exp.ArgMax) and isinstance(node.expression, exp.Tuple):
        node.set("expression", exp.Struct(expressions=list(node.expression.expressions)))
        return node
    if isinstance(node, exp.JSONExtractScalar | exp.JSONExtract):
        path = node.expression
        if isinstance(path, exp.JSONPath) and any(
                isinstance(p, exp.JSONPathSubscript) and isinstance(p.this, exp.JSONPathWildcard)
                for p in path.expressions):
            # DuckDB returns a list for a wildcard path; Spark's get_json_object a JSON text
            # that unwraps a single match. No faithful translation: refuse.
            raise TranslationError("JSON path with [*] has no Spark equivalent here")
    return node


def _seconds(interval: exp.Expression) -> int:
    if not isinstance(interval, exp.Interval):
        raise TranslationError("time_bucket needs a literal INTERVAL")
    unit = (interval.unit.name if interval.unit else "SECOND").upper().rstrip("S")
    if unit not in _UNIT_SECONDS:
        raise TranslationError(f"time_bucket interval unit {unit} is not supported on Spark")
    try:
        n = int(interval.this.name)
    except ValueError:
        raise TranslationError("time_bucket needs a whole-number interval") from None
    return n * _UNIT_SECONDS[unit]


def _time_bucket(node: exp.DateBin) -> exp.Expression:
    width = _seconds(node.this) * 1_000_000
    ts = node.expression.sql(dialect="spark")
    # unix_micros wants a TIMESTAMP (with time zone); the session zone is UTC, so the cast of
    # the naive UTC value is exact. pmod keeps buckets before the origin floor-aligned.
    micros = f"UNIX_MICROS(CAST({ts} AS TIMESTAMP))"
    off = f"({micros} - {_BUCKET_ORIGIN_US})"
    return sqlglot.parse_one(
        f"CAST(TIMESTAMP_MICROS({micros} - PMOD({off}, {width})) AS TIMESTAMP_NTZ)",
        read="spark")


def _array_agg(node: exp.ArrayAgg, where: exp.Expression | None = None) -> exp.Expression:
    """`where`: the aggregate's FILTER clause, which must stay on the collect itself."""

    def collect(fn: str, arg: exp.Expression) -> exp.Expression:
        agg = exp.func(fn, arg)
        return exp.Filter(this=agg, expression=where.copy()) if where is not None else agg

    inner = node.this
    order: list[exp.Ordered] = []
    if isinstance(inner, exp.Order):
        order = list(inner.expressions)
        inner = inner.this
    distinct = isinstance(inner, exp.Distinct)
    if distinct:
        (value,) = inner.expressions
    else:
        value = inner
    agg = collect("COLLECT_SET" if distinct else "COLLECT_LIST", value.copy())
    if not order:
        return agg
    if len(order) != 1 or order[0].args.get("desc"):
        raise TranslationError("list(... ORDER BY) with several or descending keys")
    key = order[0].this
    if key == value:
        return exp.func("SORT_ARRAY", agg)
    if distinct:
        raise TranslationError("list(DISTINCT x ORDER BY y) with y other than x")
    pairs = collect("COLLECT_LIST", exp.Struct(expressions=[
        exp.alias_(key.copy(), "k"), exp.alias_(value.copy(), "v")]))
    return sqlglot.parse_one(
        f"TRANSFORM(ARRAY_SORT({pairs.sql(dialect='spark')}), p -> p.v)", read="spark")


def _full_match(node: exp.RegexpFullMatch) -> exp.Expression:
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        anchored: exp.Expression = exp.Literal.string(f"^(?:{pattern.this})\\z")
    else:
        anchored = exp.func("CONCAT", exp.Literal.string("^(?:"), pattern.copy(),
                            exp.Literal.string(")\\z"))
    return exp.RegexpLike(this=node.this, expression=anchored)


def _bracket(node: exp.Bracket) -> exp.Expression:
    """`l[a:b]` (DuckDB: 1-based, inclusive) -> slice(); `l[i]` -> try_element_at(), which
    gives NULL past the end as DuckDB does (Spark's `l[i]` raises under ANSI mode)."""
    if len(node.expressions) != 1:
        raise TranslationError("multi-dimensional subscript")
    (index,) = node.expressions
    if isinstance(index, exp.Slice):
        a, b = index.this, index.expression
        if not (a is not None and b is not None and a.is_int and b.is_int
                and int(a.name) >= 1 and int(b.name) >= 1):
            raise TranslationError("list slice needs positive literal bounds on Spark")
        lo, hi = int(a.name), int(b.name)
        return exp.func("SLICE", node.this, exp.Literal.number(lo),
                        exp.Literal.number(max(0, hi - lo + 1)))
    if index.is_int:
        # SQLGlot stores DuckDB's 1-based subscript 0-based.
        pos = int(index.name) + 1
        if pos < 1:
            raise TranslationError("negative list subscript")
        return exp.func("TRY_ELEMENT_AT", node.this, exp.Literal.number(pos))
    return node


def _list_slice(node: exp.Anonymous) -> exp.Expression:
    arr, start, end = node.expressions
    if not (start.is_int and end.is_int):
        raise TranslationError("list_slice needs literal bounds")
    a, b = int(start.name), int(end.name)
    return exp.func("SLICE", arr, exp.Literal.number(a), exp.Literal.number(max(0, b - a + 1)))
