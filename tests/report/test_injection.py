"""A record whose user agent, bucket name, object key, request parameters and tenant carry
HTML/script, Markdown links and images, spreadsheet formulas, ANSI escapes and a bidi override
goes through the whole hunt (see corpus.py). Every output stays structurally intact and inert:
Markdown renders no link, image or tag from it; JSON outputs keep the raw value exactly;
terminal output shows the escapes instead of obeying them. (HTML: test_html, test_browser.)"""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from report.corpus import (
    FORMULA,
    HOSTILE_BUCKET,
    HOSTILE_EVENT_ID,
    HOSTILE_KEY,
    HOSTILE_TENANT,
    HOSTILE_UA,
)
from report.mdcheck import table_cell_counts
from trailhound.report.escape import csv_cell, md, md_code


@pytest.fixture(scope="module")
def report_md(corpus) -> str:
    return (corpus.out / "report.md").read_text()


def test_the_hostile_record_reached_the_incident(corpus):
    inc = corpus.incident
    assert HOSTILE_UA in inc["user_agents"]
    bucket = next(b for b in inc["resources"]["s3_buckets"] if b["name"] == HOSTILE_BUCKET)
    assert bucket["tenant"] == HOSTILE_TENANT
    lines = (corpus.out / "evidence" / f"{inc['id']}.ndjson").read_text().splitlines()
    rows = [json.loads(line) for line in lines]  # every line still one JSON object
    hostile = next(r for r in rows if r["event_id"] == HOSTILE_EVENT_ID)
    assert hostile["object_key"] == HOSTILE_KEY and hostile["user_agent"] == HOSTILE_UA


def test_markdown_renders_no_markup_from_logs(report_md):
    html = MarkdownIt("commonmark").enable("table").render(report_md)
    assert "<script" not in html and "<img" not in html
    assert "evil.example" in html  # shown...
    assert 'href="http://evil.example' not in html  # ...but never a link
    assert "onerror=" not in html or "&quot;window.__pwned" in html
    for ch in ("\x1b", "\x07", "\u202e"):
        assert ch not in report_md
    assert "\\u202e" in report_md


def test_markdown_tables_keep_their_shape(report_md):
    """A `|` in a log value must not add a column: each table row has its header's cells.
    Counted on the source, since Markdown renderers silently drop or pad extra cells."""
    shapes = table_cell_counts(report_md)
    assert len(shapes) >= 6
    assert all(len(shape) == 1 for shape in shapes), shapes


def test_hostile_bucket_row_is_one_row(report_md):
    rows = [r for r in report_md.splitlines() if "window\\.\\_\\_pwned=1" in r
            and r.startswith("| ") and "4.3 KB" in r]
    assert len(rows) == 1


def test_json_outputs_keep_raw_values(corpus):
    stix = (corpus.out / "stix.json").read_text()
    ocsf = json.loads((corpus.out / "ocsf.json").read_text())
    assert any(o.get("description") == HOSTILE_UA for o in json.loads(stix)["objects"])
    assert any(r["name"] == HOSTILE_BUCKET for r in ocsf[0]["resources"])
    assert any(r.get("labels") == [f"tenant:{HOSTILE_TENANT}"] for r in ocsf[0]["resources"])
    for text in (stix, (corpus.out / "ocsf.json").read_text(),
                 (corpus.out / "incidents.json").read_text()):
        assert "\x1b" not in text and "\x07" not in text  # JSON escapes control characters


def test_investigate_json_and_table(corpus, cli):
    code, out, _ = cli("investigate", "--store", str(corpus.store), "--ip", corpus.attacker_ip,
                       "--since", corpus.hostile_time, "--until", corpus.hostile_time,
                       "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert HOSTILE_BUCKET in {b["bucket"] for b in doc["buckets"]}
    assert HOSTILE_KEY in {o["key"] for o in doc["objects"]}  # raw, JSON-escaped
    code, out, _ = cli("investigate", "--store", str(corpus.store), "--ip", corpus.attacker_ip,
                       "--since", corpus.hostile_time, "--until", corpus.hostile_time)
    assert code == 0 and "objects read" in out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out


@pytest.mark.parametrize("value", [FORMULA, "+1+1", "-2", "@SUM(A1)", "\tx", "\r=x"])
def test_csv_cells_cannot_start_a_formula(value):
    assert csv_cell(value)[0] == "'"


def test_markdown_escapers():
    assert md("[a](http://x)") == "\\[a\\]\\(http://x\\)"
    assert md("![i](u)").startswith("\\!\\[")
    assert md_code("a`b") == "``a`b``"
    assert md_code("a|b") == "`a\\|b`"
    assert md("\x1b[31m\u202e") == "\\\\u001b\\[31m\\\\u202e"
