"""report.html read as text: one self-contained file, every section, charts embedded, and no
log value able to become markup or script."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from report.corpus import HOSTILE_BUCKET, HOSTILE_UA
from trailhound.report.html import script_json


class Scan(HTMLParser):
    """Tags, attributes and script bodies as the browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)
        else:
            self.text.append(data)


@pytest.fixture(scope="module")
def page(corpus) -> str:
    return (corpus.out / "report.html").read_text()


@pytest.fixture(scope="module")
def scan(page) -> Scan:
    s = Scan()
    s.feed(page)
    return s


def test_self_contained(page, scan):
    for tag, attrs in scan.tags:
        for name in ("src", "href", "action", "data", "poster"):
            value = attrs.get(name) or ""
            assert not re.match(r"(?i)\s*(https?:|//|ftp:|file:)", value), (tag, name, value)
    assert not any(t == "link" for t, _ in scan.tags)
    csp = next(a["content"] for t, a in scan.tags
               if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert "img-src data:" in csp


def test_scripts_are_ours_only(scan, corpus):
    kinds = [a.get("type") for a, _ in scan.scripts]
    charts = [a for a, _ in scan.scripts if a.get("type") == "application/json"]
    assert len(charts) == 3  # activity, bytes, lineage for the one incident
    assert kinds.count(None) == 2  # plotly.js and the few lines that draw the charts
    for attrs, body in scan.scripts:
        if attrs.get("type") == "application/json":
            spec = json.loads(body)
            assert "data" in spec and "layout" in spec
            assert "<" not in body and ">" not in body  # nothing can close the element


def test_every_section_is_there(scan, corpus):
    text = " ".join(scan.text)
    for heading in ("Executive summary", "Incident details", "Timeline",
                    "Attack methodology by ATT&CK tactic", "Impact assessment",
                    "Indicators of compromise", "Response actions",
                    "Lessons and recommendations"):
        assert heading in text
    inc = corpus.incident
    assert inc["root_access_key"] in text and inc["id"] in text
    for ip in inc["source_ips"]:
        assert ip.rsplit(".", 1)[0] + "[.]" in text  # defanged
        assert ip not in text
    assert "D3-" in text


def test_log_values_are_text_not_markup(page, scan):
    text = " ".join(scan.text)
    # the hostile values are shown, as text, with invisible characters made visible
    assert "<script>window.__pwned=1" in text and "\\u202e" in text and "\\u001b" in text
    assert "\u202e" not in page and "\x1b" not in page and "\x07" not in page
    tags = {t for t, _ in scan.tags}
    assert "img" not in tags and "a" in tags  # our nav links only
    assert all((a.get("href") or "").startswith("#") for t, a in scan.tags if t == "a")
    assert not any(k.startswith("on") for _, a in scan.tags for k in a)
    assert HOSTILE_UA not in page and HOSTILE_BUCKET not in page


@pytest.mark.parametrize("value", ["</script><script>alert(1)</script>", "<!--", "a&b",
                                   "\u2028", "]]>"])
def test_script_json_cannot_leave_its_element(value):
    out = str(script_json({"v": value}))
    assert "<" not in out and ">" not in out and "&" not in out and "\u2028" not in out
    assert json.loads(out) == {"v": value}


def test_ticks_escapes_prose_and_codes_spans():
    from trailhound.report.html import ticks

    assert str(ticks("run `a<b` & <i>")) == "run <code>a&lt;b</code> &amp; &lt;i&gt;"


def test_a_lineage_with_nothing_flowing_draws_no_sankey():
    """One key, no stage: Plotly's Sankey throws on a node without links, which stopped
    every later chart of the page. No figure is made; with a link, one is."""
    from trailhound.report import charts

    key = {"key": "AKIAEXAMPLE", "principal": "arn:aws:iam::1:user/a", "events": 1,
           "attacker_events": 1, "parent": None, "stage_events": {}}
    assert charts.lineage({"lineage": {"keys": [key]}}) is None
    flowing = {**key, "stage_events": {"discovery": 1}}
    assert charts.lineage({"lineage": {"keys": [flowing]}}) is not None
