"""The report's charts as plotly figures (JSON specs; plotly.js draws them in the page).

Three pictures a responder reads faster than tables: activity per hour (attacker, shared,
owner) with the first event of each attack stage marked; bytes read per bucket and per tenant;
the key lineage as a Sankey diagram (stolen key -> keys and sessions it produced -> what each
did). Labels come from logs: plotly.js renders a small HTML subset inside labels (`<b>`,
`<a href>`, `<br>`), so every label goes through `label()`, which makes it plain text for
plotly (entities for `<`, `>`, `&`; `$` escaped so no LaTeX is attempted) and makes control
and bidi characters visible.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from trailhound.correlate.incident import human_bytes
from trailhound.termsafe import safe

ATTACKER, SHARED, OTHER = "#c0392b", "#e67e22", "#95a5a6"
STAGE_COLOURS = {
    "credential-validation": "#8e44ad", "discovery": "#2980b9", "persistence": "#d35400",
    "privilege-escalation": "#c0392b", "lateral-movement": "#16a085", "collection": "#27ae60",
    "exfiltration": "#e74c3c", "defense-evasion": "#7f8c8d", "impact": "#2c3e50",
}
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def label(value: object, limit: int = 60) -> str:
    """A log string as inert plotly text."""
    s = html.escape(safe(value, limit=limit), quote=False)
    return s.replace("$", "&#36;")


def activity(hourly: list[dict[str, Any]], milestones: list[dict[str, Any]]) -> go.Figure:
    """Stacked events per hour by attribution, a dashed line at each stage's first event."""
    x = [h["hour"] for h in hourly]
    fig = go.Figure()
    for key, name, colour in (("attacker", "attacker", ATTACKER),
                              ("shared", "shared with the owner", SHARED),
                              ("other", "owner / unattributed", OTHER)):
        fig.add_bar(x=x, y=[h[key] for h in hourly], name=name, marker_color=colour,
                    hovertemplate="%{x|%Y-%m-%d %H:00} UTC: %{y} events<extra>" + name
                    + "</extra>")
    top = max((h["attacker"] + h["shared"] + h["other"] for h in hourly), default=1)
    firsts = [m for m in milestones if any(w.startswith("first ") and w[6:] in STAGE_COLOURS
                                           for w in m["what"])]
    for n, m in enumerate(firsts):
        stages = [w[6:] for w in m["what"] if w.startswith("first ") and w[6:] in STAGE_COLOURS]
        when = m["time"].isoformat() if hasattr(m["time"], "isoformat") else m["time"]
        colour = STAGE_COLOURS[stages[0]]
        fig.add_shape(type="line", x0=when, x1=when, y0=0, y1=1, yref="paper",
                      line={"color": colour, "width": 1.5, "dash": "dash"})
        fig.add_scatter(x=[when], y=[top * (1.06 + 0.1 * (n % 5))], mode="markers+text",
                        marker={"color": colour, "size": 9, "symbol": "triangle-down"},
                        text=[label(", ".join(stages))], textposition="middle right",
                        textfont={"color": colour, "size": 11}, showlegend=False,
                        hovertemplate=label(f"first {', '.join(stages)}: {m['event_name']}")
                        + " at %{x}<extra></extra>")
    fig.update_layout(barmode="stack", height=360, font=FONT, bargap=0.05,
                      margin={"l": 50, "r": 20, "t": 30, "b": 40},
                      legend={"orientation": "h", "y": -0.15},
                      yaxis={"title": "events per hour", "range": [0, top * 1.6]},
                      xaxis={"type": "date"}, plot_bgcolor="#fff",
                      title={"text": "Activity per hour, with the first event of each stage",
                             "font": {"size": 14}})
    return fig


def bytes_read(buckets: list[dict[str, Any]], tenants: list[dict[str, Any]]) -> go.Figure:
    """Bytes the attacker read per bucket (coloured by tenant) and per tenant, side by side."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.3,
                        subplot_titles=("bytes read per bucket", "bytes read per tenant"))
    bs = sorted(buckets, key=lambda b: b["bytes_out"])[-25:]
    fig.add_bar(y=[label(b["name"], 40) for b in bs], x=[b["bytes_out"] for b in bs],
                orientation="h", marker_color=ATTACKER, showlegend=False,
                text=[human_bytes(b["bytes_out"]) for b in bs], textposition="auto",
                customdata=[[label(b["tenant"] or "-", 40), b["objects_read"]] for b in bs],
                hovertemplate="%{y}<br>tenant %{customdata[0]}<br>%{customdata[1]} objects, "
                              "%{text}<extra></extra>", row=1, col=1)
    ts = sorted(tenants, key=lambda r: r["bytes_out"])[-25:]
    fig.add_bar(y=[label(r["tenant"], 40) for r in ts], x=[r["bytes_out"] for r in ts],
                orientation="h", marker_color="#34495e", showlegend=False,
                text=[r["bytes"] for r in ts], textposition="auto",
                customdata=[[r["buckets"], r["objects_read"]] for r in ts],
                hovertemplate="%{y}<br>%{customdata[0]} bucket(s), %{customdata[1]} objects, "
                              "%{text}<extra></extra>", row=1, col=2)
    fig.update_xaxes(title_text="bytes", tickformat=".2s", ticksuffix="B")
    fig.update_layout(height=max(280, 40 + 26 * max(len(bs), len(ts))), font=FONT,
                      margin={"l": 20, "r": 20, "t": 40, "b": 40}, plot_bgcolor="#fff")
    fig.update_yaxes(automargin=True)
    return fig


def lineage(inv: dict[str, Any]) -> go.Figure | None:
    """Sankey: each key flows into the keys and sessions it produced (width: their events)
    and into the stages it served (width: attacker events). None when nothing flows (one
    key, no stage): a Sankey without links throws in the browser."""
    keys = inv["lineage"]["keys"]
    index: dict[str, int] = {}
    labels: list[str] = []
    colours: list[str] = []
    hover: list[str] = []

    def node(ident: str, text: str, colour: str, tip: str) -> int:
        if ident not in index:
            index[ident] = len(labels)
            labels.append(text)
            colours.append(colour)
            hover.append(tip)
        return index[ident]

    src: list[int] = []
    dst: list[int] = []
    val: list[int] = []
    link_colours: list[str] = []
    for k in keys:
        who = (k["principal"] or "?").rsplit("/", 1)[-1]
        colour = ATTACKER if k["attacker_events"] and k["attacker_events"] == k["events"] else (
            SHARED if k["attacker_events"] else OTHER)
        node("key:" + k["key"], label(f"{k['key']} ({who})", 70), colour,
             label(f"{k['principal'] or '?'}: {k['events']} events, "
                   f"{k['attacker_events']} by the attacker", 160))
    for k in keys:
        me = index["key:" + k["key"]]
        if k["parent"] and "key:" + k["parent"] in index:
            src.append(index["key:" + k["parent"]])
            dst.append(me)
            val.append(max(1, k["events"]))
            link_colours.append("rgba(192,57,43,0.35)" if k["attacker_events"] else
                                "rgba(149,165,166,0.35)")
        for stage, n in sorted(k.get("stage_events", {}).items()):
            s = node("stage:" + stage, stage, STAGE_COLOURS.get(stage, OTHER),
                     f"attacker events in stage {stage}")
            src.append(me)
            dst.append(s)
            val.append(n)
            link_colours.append("rgba(192,57,43,0.25)")
    if not src:
        return None
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "color": colours, "pad": 18, "thickness": 16,
              "customdata": hover, "hovertemplate": "%{customdata}<extra></extra>"},
        link={"source": src, "target": dst, "value": val, "color": link_colours}))
    fig.update_layout(height=max(260, 60 + 34 * len(labels)), font=FONT,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "Key lineage: stolen key, keys and sessions it produced, "
                                     "and what each did", "font": {"size": 14}})
    return fig
