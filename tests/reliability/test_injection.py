"""Hostile field values through detection SQL and the terminal outputs.

Detection (every rule, built-in and SigmaHQ): a differential test. Each rule's own positive
and negative scenarios are rewritten twice with one bijective mapping of their string values:
once to plain tokens (`zqkh`), once to the same tokens behind hostile payloads (SQL quotes and
comments, LIKE wildcards `%` `_`, JSON breakers, HTML, Markdown, CSV formulas, ANSI, bidi, a
1 MB string) and to LIKE-pattern look-alikes of the real names (`G_t_a_l_r_d_n_i_y`). If values
reach SQL only as data, both corpora give exactly the same alerts: same rules, same events, no
SQL error, no rule skipped. A quote that closed a literal, or a `_` that matched any character,
would make them differ.

Terminal: the ingest summary (object names and quarantine reasons come from the attacker) and
`detect`'s table and NDJSON. The report files (Markdown, HTML, STIX, OCSF, CSV) are covered by
tests/report/test_injection.py, test_html.py and test_browser.py with the same kind of corpus.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from trailhound.rules import detect, load_rules
from trailhound.rules.model import RuleSet
from trailhound.rules.selftest import events_connection, expand

PAYLOADS = [
    "' OR '1'='1", "'; DROP TABLE events; --", "\\' OR 1=1 --", "%", "_", "%' OR 'a' LIKE '%",
    "\"}]},{\"eventID\":\"x", "/* */", "\x00", "\\", "$1", "?", "*", "${jndi:ldap://x/a}",
    "<script>alert(1)</script>", "[a](http://evil.example)", "=cmd|' /C calc'!A0",
    "\x1b[31m\x1b]0;t\x07", "\u202egpj.exe", "E'\\x41'", "$$ $tag$", "NULL", "''''",
]
# What rules select on by name (kept, so aggregate rules still fire on rewritten values), or
# rewritten on their own to LIKE look-alikes by `names=True`.
NAME_FIELDS = {"eventName", "eventSource", "type"}
KEEP = {"eventTime", "eventID", "creationDate"}
MEGA = "M" * (1024 * 1024)


def rewrite(records: list[dict[str, Any]], hostile: bool, *, names: bool = False
            ) -> list[dict[str, Any]]:
    """names=False: every value but the names, to tokens (behind payloads when hostile).
    names=True: only the names, to tokens (or, hostile, to LIKE look-alikes of the name)."""
    mapping: dict[str, int] = {}

    def token(v: str) -> int:
        return mapping.setdefault(v, len(mapping))

    def letters(n: int) -> str:
        # No digits and no hex letters: rules that fold a value's shape (digits -> #, hex
        # runs) must see distinct values as distinct shapes in both corpora alike.
        out = ""
        while True:
            n, r = divmod(n, 20)
            out += "ghijklmnopqrstuvwxy"[r] if r < 19 else "z"
            if n == 0:
                return out

    def walk(node: Any, key: str | None) -> Any:
        if isinstance(node, dict):
            return {k: (v if k in KEEP else walk(v, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if not isinstance(node, str) or (key in NAME_FIELDS) != names:
            return node
        n = token(node)
        plain = f"zq{letters(n)}"
        if not hostile:
            return plain
        if names:
            # Same length as the real name, every other character a LIKE wildcard.
            look = "".join("_" if i % 2 else c for i, c in enumerate(node))
            return f"{look}{plain}" if n % 2 else f"%{plain}%"
        return PAYLOADS[n % len(PAYLOADS)] + plain

    out = [walk(r, None) for r in records]
    if hostile and not names:  # a 1 MB user agent, on a record that has a unique agent
        for r in out:
            if isinstance(r.get("userAgent"), str):
                r["userAgent"] = MEGA + r["userAgent"]
                break
    return out


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="module")
def scenarios(ruleset: RuleSet) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in ruleset.rules:
        out += expand(list(rule.positive), f"{rule.id}-p")
        out += expand(list(rule.negative), f"{rule.id}-n")
    return out


def alerts(records: list[dict[str, Any]], ruleset: RuleSet) -> tuple[set, list]:
    conn = events_connection(records)
    try:
        res = detect(conn, ruleset)
        # Read before the connection closes: DuckDB's detect keeps the ids in it.
        return {(a.rule_id, tuple(sorted(a.event_ids)), a.count) for a in res.alerts}, sorted(
            res.skipped)
    finally:
        conn.close()


def test_hostile_values_match_exactly_like_plain_ones(ruleset: RuleSet,
                                                      scenarios: list[dict[str, Any]]) -> None:
    plain_alerts, plain_skipped = alerts(rewrite(scenarios, hostile=False), ruleset)
    hostile_alerts, hostile_skipped = alerts(rewrite(scenarios, hostile=True), ruleset)
    assert hostile_skipped == plain_skipped
    assert plain_alerts, "the rewritten scenarios must still raise some alerts (new terms, " \
        "thresholds), or this test compares nothing"
    assert hostile_alerts == plain_alerts


def test_like_wildcards_in_names_match_nothing_a_plain_token_would_not(
        ruleset: RuleSet, scenarios: list[dict[str, Any]]) -> None:
    """`G_t_a_l_r_d_n_i_y` and `%zqj%` as eventName/eventSource/identity type: if a rule
    compared with LIKE without escaping the value side, these would match real names."""
    real, _ = alerts(scenarios, ruleset)
    plain, plain_skipped = alerts(rewrite(scenarios, hostile=False, names=True), ruleset)
    look, look_skipped = alerts(rewrite(scenarios, hostile=True, names=True), ruleset)
    assert look_skipped == plain_skipped
    assert look == plain
    # And the rewrite did take names away from the rules (else this compares nothing).
    assert {r for r, _, _ in real} - {r for r, _, _ in look}


# ---------------------------------------------------------------------------------------------
# Terminal output

UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def test_ingest_summary_and_detect_output_are_inert(tmp_path: Path, cli,
                                                    scenarios: list[dict[str, Any]]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    hostile_name = "evil\x1b[2J\x1b]0;pwn\x07[bold red]x[red]\u202egpj.json"
    (src / hostile_name).write_bytes(json.dumps(
        {"\x1b[31mRED": 1, "[link=http://evil.example]click[/link]": 2, "\u202e": 3}).encode())
    (src / "records.json.gz").write_bytes(gzip.compress(json.dumps(
        {"Records": rewrite(scenarios, hostile=True)[:400]}).encode()))
    code, out, err = cli("ingest", str(src), "--store", str(tmp_path / "st"))
    assert code == 0, err
    assert not UNSAFE.search(out), repr(UNSAFE.search(out))
    assert "\\u001b" in out  # the escape is shown, not obeyed
    assert "[link=" in out or "link=" in out  # Rich markup printed as text...
    assert "\x1b]8;" not in out  # ...never turned into a terminal hyperlink
    for fmt in ("table", "ndjson"):
        code, out, err = cli("detect", "--store", str(tmp_path / "st"), "--format", fmt)
        assert code == 0, err
        assert not UNSAFE.search(out + err), (fmt, repr(UNSAFE.search(out + err)))
        if fmt == "ndjson":
            assert all(isinstance(json.loads(line), dict) for line in out.splitlines())
