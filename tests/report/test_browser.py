"""report.html in headless Chromium: draws its charts with no console error, loads nothing
but itself, and runs none of the hostile record's scripts. Keeps a screenshot in
test-artifacts/report.png.

Uses Debian's chromium through playwright's `executable_path` (no browser download); skipped,
saying why, when either is missing. `make test` installs chromium when run as root.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def _chromium() -> str:
    for name in (os.environ.get("TRAILHOUND_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    pytest.skip("no chromium on PATH (Debian: apt-get install chromium; `make test` does it "
                "as root)")


@pytest.fixture(scope="module")
def loaded(corpus):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright not installed (dev extra)")
    exe = _chromium()
    report = corpus.out / "report.html"
    console: list[tuple[str, str]] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_function("document.body.dataset.chartsDrawn !== undefined",
                               timeout=20000)
        page.wait_for_timeout(500)
        state = page.evaluate("""() => ({
            title: document.title,
            pwned: window.__pwned === undefined ? null : window.__pwned,
            drawn: Number(document.body.dataset.chartsDrawn),
            svgs: document.querySelectorAll('.chart .main-svg').length,
            bars: document.querySelectorAll('#activity-0 .bars .point').length,
            sankeyNodes: document.querySelectorAll('#lineage-0 .sankey-node').length,
            bucketBars: document.querySelectorAll('#bytes-0 .bars .point').length,
            imgs: document.images.length,
            scripts: document.scripts.length,
            hostileText: document.body.innerText.includes("window.__pwned=1"),
        })""")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    return {"state": state, "console": console, "requests": requests, "uri": report.as_uri()}


def test_no_console_errors(loaded):
    bad = [(t, m) for t, m in loaded["console"] if t in ("error", "pageerror", "warning")]
    assert bad == []


def test_no_network(loaded):
    assert loaded["requests"] == [loaded["uri"]]


def test_charts_rendered(loaded):
    s = loaded["state"]
    assert s["drawn"] == 3 and s["svgs"] >= 3
    assert s["bars"] > 10  # hourly activity
    assert s["sankeyNodes"] >= 3  # stolen key, created key, stages
    assert s["bucketBars"] >= 6  # the planted buckets and the hostile one, per bucket+tenant


def test_injected_scripts_did_not_run(loaded):
    s = loaded["state"]
    assert s["pwned"] is None and s["title"] == "trailhound incident report"
    assert s["imgs"] == 0 and s["scripts"] == 2 + 3
    assert s["hostileText"]  # shown as text
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
