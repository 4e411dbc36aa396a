"""report.html: the report as one self-contained page with charts.

A Jinja2 template of `report.model` with autoescaping on, so every value is HTML-escaped unless
the template says otherwise; log values additionally go through `termsafe.safe` (`clean`) so
bidi overrides and control characters show as `\\uXXXX` instead of reordering the page. Chart
specs travel as JSON in `<script type="application/json">` blocks, escaped by `script_json`
so no value can close the element (`</script>`) or open a comment (`<!--`). plotly.js is
inlined: the page loads nothing at view time, and its Content-Security-Policy forbids any
fetch, so a value that slipped through could still not call out.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import jinja2
import orjson
from markupsafe import Markup, escape

from trailhound.correlate.incident import human_bytes
from trailhound.report import charts
from trailhound.report.escape import defang
from trailhound.report.model import TACTIC_IDS, ReportModel, build_model, ts
from trailhound.termsafe import safe

if TYPE_CHECKING:
    from trailhound.hunt import HuntResult

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'")


def script_json(value: Any) -> Markup:
    """JSON that is inert inside an HTML script element: `<`, `>` and `&` become `\\u003c`
    etc. (they can only occur inside JSON strings, where the escape means the same), and so do
    U+2028/U+2029, which old JavaScript parsers take as line ends."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Markup(text)  # noqa: S704 - escaped above for the script-data context


@cache
def _plotly_js() -> Markup:
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    # The bundle never contains these today; if a release did, inlining it would break the page.
    if "</script" in js.lower() or "<!--" in js:
        raise RuntimeError("plotly.js bundle cannot be inlined in a script element")
    return Markup(js)  # noqa: S704 - the library's own code, checked above


def ticks(text: str) -> Markup:
    """Our own prose (lessons) uses Markdown backticks for commands: escape the text, then
    show those spans as <code>."""
    parts = str(text).split("`")
    return Markup("").join(Markup("<code>{}</code>").format(p) if n % 2 else escape(p)
                           for n, p in enumerate(parts))


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("trailhound.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    env.filters["clean"] = lambda v, limit=None: safe(v, limit=limit)
    env.filters["defang"] = defang
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["bytes"] = human_bytes
    env.filters["ticks"] = ticks
    env.filters["ts"] = ts
    return env


def figures(model: ReportModel) -> dict[str, str]:
    """Chart id -> plotly JSON spec, for every incident that has an investigation."""
    import plotly.io as pio

    out: dict[str, str] = {}
    for n, view in enumerate(model.incidents):
        inv = view.investigation
        if not inv:
            continue
        ms = [{**m, "time": m["raw_time"], "what": m["what"].split(", "),
               "event_name": m["api"]} for m in view.timeline]
        out[f"activity-{n}"] = pio.to_json(charts.activity(inv["timeline"]["hourly"], ms),
                                           validate=False)
        if view.buckets:
            out[f"bytes-{n}"] = pio.to_json(charts.bytes_read(view.buckets, view.tenants),
                                            validate=False)
        flows = charts.lineage(inv) if inv["lineage"]["keys"] else None
        if flows is not None:
            out[f"lineage-{n}"] = pio.to_json(flows, validate=False)
    return out


def render_html(result: HuntResult) -> str:
    return render_model(build_model(result))


def render_model(model: ReportModel) -> str:
    figs = figures(model)
    return _env().get_template("report.html.j2").render(
        m=model, figures={k: script_json(v) for k, v in figs.items()}, csp=CSP,
        plotly_js=_plotly_js() if figs else "", tactic_ids=TACTIC_IDS)
