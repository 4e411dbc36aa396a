"""A pySigma backend that turns a Sigma detection into a DuckDB SQL boolean over `events`.

Only the parts where SQL differs from pySigma's `TextQueryBackend` defaults are written here:

* **Case.** Sigma compares plain strings case-insensitively (`No` matches `NO`). Equality is
  `lower(f) = lower('v')`; `*x*`, `x*`, `*x` become `contains` / `starts_with` / `ends_with`
  on lowered text (DuckDB runs these without building a LIKE automaton); anything else with
  wildcards is `ILIKE ... ESCAPE '\\'`. `|cased` keeps the case.
* **Escaping.** Every rule value becomes a SQL literal through `sql_str` (quotes doubled); LIKE
  patterns escape `%`, `_` and `\\` first. Log values never reach SQL text at all: the query runs
  over stored columns.
* **Missing fields.** SQL's NULL would make `NOT (f = 'x')` unknown when `f` is absent, but in
  Sigma a missing field simply does not match, so its negation does. `NOT x` is therefore
  written `NOT coalesce(x, false)` (portable: SQLGlot keeps it for every dialect, where it
  rewrites `IS NOT TRUE` into a plain NOT); AND and OR treat NULL as false already.
* **Field names** never reach SQL either: `FieldMap` resolves each to a column, a derived
  expression or a JSON path.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from trailhound.rules.pipeline import FieldMap, cloudtrail_field_map


def sql_str(value: str) -> str:
    """A SQL string literal. DuckDB does not treat backslash as an escape in '...' literals,
    so doubling the quote is the whole job; NUL cannot be represented and is refused."""
    if "\x00" in value:
        raise SigmaFeatureNotSupportedByBackendError("NUL character in a rule value")
    return "'" + value.replace("'", "''") + "'"


def like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parts(s: SigmaString) -> list[str | SpecialChars]:
    """Merge a SigmaString into text runs and wildcards; placeholders are not supported."""
    out: list[str | SpecialChars] = []
    for p in s.s:
        if isinstance(p, Placeholder):
            raise SigmaFeatureNotSupportedByBackendError(
                f"placeholder %{p.name}% needs a pipeline that defines it")
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + p
        elif p is SpecialChars.WILDCARD_MULTI and out and out[-1] is SpecialChars.WILDCARD_MULTI:
            continue
        else:
            out.append(p)
    return out


def match_sql(field: str, s: SigmaString, *, cased: bool = False) -> str:
    """SQL for `field` matching the Sigma string `s` (wildcards * and ?)."""
    parts = _parts(s)
    texts = [p for p in parts if isinstance(p, str)]
    wild = [p for p in parts if not isinstance(p, str)]
    f = field if cased else f"lower({field})"

    def lit(t: str) -> str:
        return sql_str(t) if cased else f"lower({sql_str(t)})"

    if not wild:
        return f"{f} = {lit(texts[0] if texts else '')}"
    if all(p is SpecialChars.WILDCARD_MULTI for p in parts):
        return f"{field} IS NOT NULL"
    if SpecialChars.WILDCARD_SINGLE not in wild and len(texts) == 1:
        m = SpecialChars.WILDCARD_MULTI
        if parts == [m, texts[0], m]:
            return f"contains({f}, {lit(texts[0])})"
        if parts == [texts[0], m]:
            return f"starts_with({f}, {lit(texts[0])})"
        if parts == [m, texts[0]]:
            return f"ends_with({f}, {lit(texts[0])})"
    pattern = "".join(
        like_escape(p) if isinstance(p, str)
        else ("%" if p is SpecialChars.WILDCARD_MULTI else "_")
        for p in parts
    )
    op = "LIKE" if cased else "ILIKE"
    return f"{field} {op} {sql_str(pattern)} ESCAPE '\\'"


_PLAIN = re.compile(r"[A-Za-z0-9:/@_\- ]")


def required_literal(pattern: str) -> str | None:
    """A piece of text every match of `pattern` must contain, if one is easy to prove.

    Only for patterns without alternation, groups, classes or escapes: then each run of plain
    characters is required, except a last character followed by `?`, `*` or `{` (optional).
    DuckDB checks `contains(f, lit)` far faster than it runs RE2, so it goes first."""
    if any(c in pattern for c in "|()[]\\") or pattern.startswith("(?"):
        return None
    best, run = "", ""
    for i, ch in enumerate(pattern):
        nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
        if _PLAIN.match(ch) and nxt not in ("?", "*", "{"):
            run += ch
            continue
        if len(run) > len(best):
            best = run
        run = ""
    if len(run) > len(best):
        best = run
    return best if len(best) >= 3 else None


def _regex(r: SigmaRegularExpression) -> str:
    flags = {
        SigmaRegularExpressionFlag.IGNORECASE: "i",
        SigmaRegularExpressionFlag.MULTILINE: "m",
        SigmaRegularExpressionFlag.DOTALL: "s",
    }
    prefix = "".join(sorted(flags[f] for f in r.flags))
    pattern = str(r.regexp)
    return (f"(?{prefix})" if prefix else "") + pattern


class DuckDBBackend(TextQueryBackend):
    """Sigma -> DuckDB SQL WHERE expression over the `events` view."""

    name: ClassVar[str] = "trailhound DuckDB"
    formats: ClassVar[dict[str, str]] = {"default": "SQL boolean expression over events"}
    requires_pipeline: ClassVar[bool] = False

    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "'"
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    field_null_expression: ClassVar[str] = "{field} IS NULL"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"
    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"
    # Keep the regular expression's own escaping; we quote the whole pattern as a literal.
    re_escape_char: ClassVar[str] = ""
    compare_op_expression: ClassVar[str] = "TRY_CAST({field} AS DOUBLE) {operator} {value}"
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "<", CompareOperators.LTE: "<=",
        CompareOperators.GT: ">", CompareOperators.GTE: ">=",
    }

    def __init__(self, field_map: FieldMap | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.field_map = field_map or cloudtrail_field_map()
        self.fields_used: set[str] = set()

    # --- fields ---------------------------------------------------------------------------
    def escape_and_quote_field(self, field_name: str) -> str:
        self.fields_used.add(field_name)
        return self.field_map.sql(field_name)

    def text_field(self, field_name: str) -> str:
        sql = self.escape_and_quote_field(field_name)
        return sql if self.field_map.is_text(field_name) else f"CAST({sql} AS VARCHAR)"

    # --- boolean structure -----------------------------------------------------------------
    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        inner = self.convert_condition(cond.args[0], state)
        return f"(NOT coalesce(({inner}), false))"

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str:
        first = cond.args[0]
        assert isinstance(first, ConditionFieldEqualsValueExpression)
        values = [a.value for a in cond.args if isinstance(a, ConditionFieldEqualsValueExpression)]
        if any(isinstance(v, SigmaCasedString) for v in values):
            return "(" + " OR ".join(
                self.convert_condition(a, state) for a in cond.args) + ")"
        field = self.text_field(first.field)
        lits = ", ".join(sql_str(str(v).lower()) for v in values)
        return f"lower({field}) IN ({lits})"

    # --- field = value ---------------------------------------------------------------------
    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaString)
        return match_sql(self.text_field(cond.field), cond.value)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaString)
        return match_sql(self.text_field(cond.field), cond.value, cased=True)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaNumber)
        n = cond.value.number
        return f"TRY_CAST({self.escape_and_quote_field(cond.field)} AS DOUBLE) = {float(n)!r}"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaBool)
        b = "true" if cond.value.boolean else "false"
        return f"lower({self.text_field(cond.field)}) = '{b}'"

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        pat = _regex(cond.value)
        _check_re2(pat)
        f = self.text_field(cond.field)
        lit = required_literal(pat)
        pre = f"contains({f}, {sql_str(lit)}) AND " if lit else ""
        return f"({pre}regexp_matches({f}, {sql_str(pat)}))"

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaCIDRExpression)
        net = cond.value.network
        if isinstance(net, ipaddress.IPv6Network):
            return str(super().convert_condition_field_eq_val_cidr(cond, state))
        f = self.text_field(cond.field)
        octets = " + ".join(
            f"TRY_CAST(split_part({f}, '.', {i + 1}) AS BIGINT) * {256 ** (3 - i)}"
            for i in range(4))
        lo, hi = int(net.network_address), int(net.broadcast_address)
        return (f"(regexp_full_match({f}, '[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}') "
                f"AND ({octets}) BETWEEN {lo} AND {hi})")

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaCompareExpression)
        return (f"TRY_CAST({self.escape_and_quote_field(cond.field)} AS DOUBLE) "
                f"{self.compare_operators[cond.value.op]} {float(cond.value.number.number)!r}")

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        ref = cond.value
        a = f"lower({self.text_field(cond.field)})"
        b = f"lower({self.text_field(ref.field)})"
        if ref.starts_with and ref.ends_with:
            return f"contains({a}, {b})"
        if ref.starts_with:
            return f"ends_with({a}, {b})"
        if ref.ends_with:
            return f"starts_with({a}, {b})"
        return f"{a} = {b}"

    # --- keywords (values without a field) --------------------------------------------------
    def convert_condition_val_str(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> str:
        """A keyword matches anywhere in the record: contains on the raw JSON text."""
        assert isinstance(cond.value, SigmaString)
        value = cond.value
        if not value.startswith(SpecialChars.WILDCARD_MULTI):
            value = SigmaString("*") + value
        if not value.endswith(SpecialChars.WILDCARD_MULTI):
            value = value + SigmaString("*")
        return match_sql(self.field_map.fallback, value)

    def convert_condition_val_num(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> str:
        return f"contains({self.field_map.fallback}, {sql_str(str(cond.value))})"

    def convert_condition_val_re(
        self, cond: ConditionValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        pat = _regex(cond.value)
        _check_re2(pat)
        return f"regexp_matches({self.field_map.fallback}, {sql_str(pat)})"


_RE2_CACHE: dict[str, bool] = {}


def _check_re2(pattern: str) -> None:
    """DuckDB runs RE2, which lacks look-around and back-references: refuse at compile time
    (a clear skip reason) instead of failing mid-scan."""
    if pattern in _RE2_CACHE:
        return
    try:
        import re2  # google-re2 when installed; else Python re catches the worst

        re2.compile(pattern)
    except ImportError:
        re.compile(pattern)
    except Exception as e:
        raise SigmaFeatureNotSupportedByBackendError(
            f"regular expression not supported by RE2: {e}") from None
    _RE2_CACHE[pattern] = True
