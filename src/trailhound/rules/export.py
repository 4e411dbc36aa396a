"""`rules export`: each rule's query for another engine, transpiled by SQLGlot.

The DuckDB text is the reference; other dialects are SQLGlot's translation of it, assuming a
table or view named `events` with the store's columns. Translation is best effort: functions an
engine lacks are reported by SQLGlot as warnings, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot.errors import ErrorLevel, SqlglotError

from trailhound.errors import RuleError
from trailhound.rules.compiler import alerts_sql, hits_sql
from trailhound.rules.model import Rule, RuleSet

DIALECTS = ("duckdb", "spark", "trino", "athena")


@dataclass(frozen=True)
class Exported:
    rule_id: str
    dialect: str
    sql: str


def export_rule(rule: Rule, dialect: str, *, grouped: bool = False, pretty: bool = True
                ) -> Exported:
    if dialect not in DIALECTS:
        raise RuleError(f"dialect must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    sql = alerts_sql(rule) if grouped else hits_sql(rule)
    try:
        out = sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=pretty,
                                unsupported_level=ErrorLevel.IGNORE)[0]
    except SqlglotError as e:
        raise RuleError(f"cannot transpile to {dialect}: {e}", location=rule.id) from None
    return Exported(rule.id, dialect, out)


def export_rules(ruleset: RuleSet, dialect: str, *, grouped: bool = False) -> list[Exported]:
    return [export_rule(r, dialect, grouped=grouped) for r in ruleset.rules]
