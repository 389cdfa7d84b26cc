"""The charts of a sweep report, as altair charts built from the sweep's tables.

p99 and throughput against load in one small panel per tier, the recommended
configuration highlighted with its 95% CI band and the others muted; errors by
cause for each tier's recommended configuration; cost per request against p99
with each tier's Pareto front of the points that meet the SLOs (failing points
marked); agents needed per tier; utilisation of each resource at each
recommendation; capacity against each tier's highest load. Each chart gets only
the columns it draws, under plain names (no dots, which Vega-Lite would read as
nested fields).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import altair as alt
import pandas as pd

from tarsim.sweep.stats import ERROR_COLUMNS

WIDTH, HEIGHT = 520, 300


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Infinite values become missing, which Vega-Lite skips."""
    return frame.replace([math.inf, -math.inf], math.nan)


def _with_bounds(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    half = frame.get(name + "_ci95", pd.Series(math.nan, index=frame.index)).fillna(0.0)
    frame = frame.copy()
    frame["lo"] = frame[name] - half
    frame["hi"] = frame[name] + half
    return frame


PANEL_WIDTH, PANEL_HEIGHT, PANELS = 250, 180, 3
"""Small multiples: three panels a row fit a 1000-pixel page."""
MUTED, HIGHLIGHT = "#b8b8b8", "#1f77b4"


def _recommended(summary: pd.DataFrame, recommendations: pd.DataFrame) -> pd.Series:
    """Whether each summary row is its tier's recommended configuration."""
    chosen = dict(zip(recommendations["tier"], recommendations["config"], strict=True))
    return pd.Series([chosen.get(t) == c for t, c in zip(summary["tier"], summary["config"],
                                                          strict=True)], index=summary.index)


def against_load(summary: pd.DataFrame, metric: str, title: str, unit: str,
                 slo: float | None = None,
                 recommendations: pd.DataFrame | None = None) -> alt.FacetChart:
    """*metric* against the offered load in one panel per tier: the tier's
    recommended configuration in colour with its 95% CI band, every other
    configuration as a thin grey line, and the SLO as a dashed line."""
    frame = _safe(_with_bounds(summary, metric))
    keep = frame["load"].notna()
    chosen = (_recommended(summary, recommendations) if recommendations is not None
              else pd.Series(False, index=summary.index))
    frame, chosen = frame[keep], chosen[keep]
    data = pd.DataFrame({
        "tier": frame["tier"], "config": frame["config"], "load": frame["load"],
        "value": frame[metric], "lo": frame["lo"].where(chosen), "hi": frame["hi"].where(chosen),
        "shown": ["recommended" if c else "other" for c in chosen],
    })
    y_title = f"{title} ({unit})" if unit else title
    x = alt.X("load:Q", title="offered load", scale=alt.Scale(zero=False))
    base = alt.Chart(data)
    others = base.transform_filter(alt.datum.shown == "other").mark_line(
        color=MUTED, strokeWidth=0.8, opacity=0.6).encode(
        x=x, y=alt.Y("value:Q", title=y_title), detail="config:N",
        tooltip=["config:N", "load:Q", alt.Tooltip("value:Q", format=".4g")])
    band = base.transform_filter(alt.datum.shown == "recommended").mark_area(
        color=HIGHLIGHT, opacity=0.2).encode(x=x, y="lo:Q", y2="hi:Q")
    mine = base.transform_filter(alt.datum.shown == "recommended").mark_line(
        color=HIGHLIGHT, strokeWidth=2.5, point=True).encode(
        x=x, y="value:Q",
        tooltip=["config:N", "load:Q", alt.Tooltip("value:Q", format=".4g"),
                 alt.Tooltip("lo:Q", format=".4g"), alt.Tooltip("hi:Q", format=".4g")])
    layers: list[alt.Chart] = [others, band, mine]
    if slo is not None:
        layers.append(base.mark_rule(color="#d62728", strokeDash=[6, 4]).encode(
            y=alt.datum(slo)))
    note = f"; dashed: SLO {slo:g} {unit}" if slo is not None else ""
    return alt.layer(*layers).properties(width=PANEL_WIDTH, height=PANEL_HEIGHT).facet(
        facet=alt.Facet("tier:N", title=None, sort=list(dict.fromkeys(data["tier"]))),
        columns=PANELS,
    ).resolve_scale(x="independent", y="independent").properties(
        title=f"{title} against load per tier: the recommended configuration (blue, 95% CI "
              f"band), the others (grey){note}")


def errors_by_cause(summary: pd.DataFrame, recommendations: pd.DataFrame) -> alt.Chart:
    """Error rate split by cause, for each tier's recommended configuration at its
    design load."""
    rows = []
    by_point = summary.set_index("point")
    for _, rec in recommendations.iterrows():
        point = by_point.loc[int(rec["point"])]
        arrived = float(point.get("arrived", math.nan))
        for cause, name in ERROR_COLUMNS.items():
            if name in summary.columns:
                count = float(point[name])
                rate = count / arrived if arrived and math.isfinite(count) else 0.0
                rows.append({"tier": rec["tier"], "cause": cause, "rate": rate})
    data = pd.DataFrame(rows, columns=["tier", "cause", "rate"])
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("tier:N", sort=list(recommendations["tier"]), title="tier"),
        y=alt.Y("rate:Q", title="error rate", stack="zero"),
        color=alt.Color("cause:N", title="cause"),
        tooltip=["tier:N", "cause:N", alt.Tooltip("rate:Q", format=".4f")],
    ).properties(title="Errors by cause (recommended configuration, design load)",
                 width=WIDTH, height=HEIGHT)


def pareto_front(points: pd.DataFrame, cost: str, latency: str) -> pd.Series:
    """Whether each row is on the Pareto front (no other row is at most as costly
    and at most as slow, and strictly better in one)."""
    on = []
    c = points[cost].to_numpy(float)
    p = points[latency].to_numpy(float)
    for i in range(len(points)):
        if not (math.isfinite(c[i]) and math.isfinite(p[i])):
            on.append(False)
            continue
        dominated = ((c <= c[i]) & (p <= p[i]) & ((c < c[i]) | (p < p[i]))).any()
        on.append(not bool(dominated))
    return pd.Series(on, index=points.index)


def cost_against_p99(summary: pd.DataFrame, limits: Mapping[str, float]) -> alt.LayerChart:
    """Cost per request against p99 for every point; points that miss an SLO are
    crosses and stay off each tier's Pareto front, which joins the points that meet
    every SLO (no other such point is both cheaper and faster)."""
    from tarsim.sweep.stats import meets

    frame = _safe(summary)
    data = pd.DataFrame({"tier": frame["tier"], "config": frame["config"],
                         "load": frame["load"], "cost": frame["total_per_request_usd"],
                         "p99": frame["latency_p99"],
                         "verdict": ["meets the SLOs" if meets(row, limits) else "misses an SLO"
                                     for _, row in summary.iterrows()]})
    data = data[data["cost"].notna() & data["p99"].notna()]
    # log axes when every value is positive (a model without prices costs nothing)
    x_scale = alt.Scale(type="log") if len(data) and (data["p99"] > 0).all() else alt.Scale()
    y_scale = alt.Scale(type="log") if len(data) and (data["cost"] > 0).all() else alt.Scale()
    fronts = []
    for _, group in data[data["verdict"] == "meets the SLOs"].groupby("tier", sort=False):
        fronts.append(group[pareto_front(group, "cost", "p99")].sort_values("p99"))
    front_data = pd.concat(fronts) if fronts else data.iloc[:0]
    tiers = list(dict.fromkeys(data["tier"]))
    scatter = alt.Chart(data).mark_point(size=40, filled=True).encode(
        x=alt.X("p99:Q", title="p99 latency (s)", scale=x_scale),
        y=alt.Y("cost:Q", title="cost per request (USD)", scale=y_scale),
        color=alt.Color("tier:N", title="tier", sort=tiers),
        shape=alt.Shape("verdict:N", title="at its load",
                        scale=alt.Scale(domain=["meets the SLOs", "misses an SLO"],
                                        range=["circle", "cross"])),
        opacity=alt.condition(alt.datum.verdict == "meets the SLOs", alt.value(0.9),
                              alt.value(0.3)),
        tooltip=["tier:N", "config:N", "load:Q", "verdict:N",
                 alt.Tooltip("p99:Q", format=".3f"), alt.Tooltip("cost:Q", format=".5f")])
    front = alt.Chart(front_data).mark_line(strokeWidth=2).encode(
        x="p99:Q", y="cost:Q", color=alt.Color("tier:N", sort=tiers, legend=None),
        order="p99:Q")
    chart = scatter + front
    slo_p99 = limits.get("latency.p99")
    if slo_p99 is not None:
        chart = chart + alt.Chart(pd.DataFrame({"x": [slo_p99]})).mark_rule(
            color="#d62728", strokeDash=[6, 4]).encode(x="x:Q")
    return chart.properties(title="Cost per request against p99: each tier's Pareto front "
                                  "joins points that meet the SLOs (crosses miss one)",
                            width=WIDTH, height=HEIGHT)


def agents_per_tier(recommendations: pd.DataFrame) -> alt.LayerChart:
    """Agents of each tier's recommendation; a tier where nothing meets the SLOs gets
    no bar, only the words."""
    ok = recommendations["status"] == "ok"
    data = pd.DataFrame({"tier": recommendations["tier"],
                         "agents": recommendations["agents_count"].where(ok),
                         "note": ["" if o else "none meets the SLOs" for o in ok],
                         "config": recommendations["config"]})
    base = alt.Chart(data).encode(x=alt.X("tier:N", sort=list(data["tier"]), title="tier"))
    bars = base.mark_bar(color="#2ca02c").encode(
        y=alt.Y("agents:Q", title="agents"), tooltip=["tier:N", "agents:Q", "config:N"])
    labels = base.mark_text(dy=-6).encode(y="agents:Q", text="agents:Q")
    notes = base.mark_text(color="#d62728", dy=-8).encode(y=alt.value(HEIGHT), text="note:N")
    return (bars + labels + notes).properties(
        title="Agents needed per tier (no bar: nothing tried meets the SLOs)",
        width=WIDTH, height=HEIGHT)


def utilisation_per_tier(summary: pd.DataFrame,
                         recommendations: pd.DataFrame) -> alt.LayerChart:
    """How busy each measured resource is at each tier's recommended configuration
    and highest load (``*_utilization`` columns), as numbers."""
    by_point = summary.set_index("point")
    rows = []
    for _, rec in recommendations.iterrows():
        point = by_point.loc[int(rec["point"])]
        for name in summary.columns:
            if str(name).endswith("_utilization"):
                level = float(point[name])
                if math.isfinite(level):
                    rows.append({"tier": rec["tier"], "utilisation": level,
                                 "resource": str(name)[: -len("_utilization")].replace("_", " "),
                                 "binding": str(rec.get("bottleneck", ""))})
    data = pd.DataFrame(rows, columns=["tier", "utilisation", "resource", "binding"])
    base = alt.Chart(data).encode(
        y=alt.Y("tier:N", sort=list(recommendations["tier"]), title="tier"),
        yOffset="resource:N")
    bars = base.mark_bar().encode(
        x=alt.X("utilisation:Q", title="busy share", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        color=alt.Color("resource:N", title="resource"),
        tooltip=["tier:N", "resource:N", alt.Tooltip("utilisation:Q", format=".0%"),
                 "binding:N"])
    text = base.mark_text(align="left", dx=4).encode(
        x="utilisation:Q", text=alt.Text("utilisation:Q", format=".0%"))
    return (bars + text).properties(
        title="Utilisation at each recommendation (the tier's highest load)", width=WIDTH,
        height=max(80, 36 * len(recommendations)))


def capacity_per_tier(recommendations: pd.DataFrame) -> alt.LayerChart:
    """Each recommendation's capacity (the highest load found to meet the SLOs) beside
    the tier's highest load: the gap is the headroom."""
    rows = []
    for _, rec in recommendations.iterrows():
        rows.append({"tier": rec["tier"], "what": "tier's highest load",
                     "load": float(rec["load"])})
        capacity = float(rec.get("capacity", math.nan))
        if math.isfinite(capacity):
            rows.append({"tier": rec["tier"], "what": "capacity", "load": capacity})
    data = pd.DataFrame(rows, columns=["tier", "what", "load"])
    what = ["tier's highest load", "capacity"]
    base = alt.Chart(data).encode(
        y=alt.Y("tier:N", sort=list(recommendations["tier"]), title="tier"),
        yOffset=alt.YOffset("what:N", sort=what))
    bars = base.mark_bar().encode(
        x=alt.X("load:Q", title="load (req/s or users)"),
        color=alt.Color("what:N", title="", sort=what,
                        scale=alt.Scale(domain=what, range=[MUTED, "#2ca02c"])),
        tooltip=["tier:N", "what:N", alt.Tooltip("load:Q", format=".4g")])
    text = base.mark_text(align="left", dx=4).encode(
        x="load:Q", text=alt.Text("load:Q", format=".3~g"))
    return (bars + text).properties(
        title="Capacity of each recommendation (highest load meeting the SLOs) against "
              "its tier's highest load", width=WIDTH,
        height=max(80, 40 * len(recommendations)))


def sweep_charts(summary: pd.DataFrame, recommendations: pd.DataFrame,
                 limits: Mapping[str, float]) -> dict[str, alt.TopLevelMixin]:
    """Every chart of the report, by file name (without extension)."""
    charts: dict[str, alt.TopLevelMixin] = {
        "p99": against_load(summary, "latency_p99", "p99 latency", "s",
                            limits.get("latency.p99"), recommendations),
        "throughput": against_load(summary, "throughput", "Throughput", "req/s",
                                   None, recommendations),
        "errors": errors_by_cause(summary, recommendations),
        "cost_vs_p99": cost_against_p99(summary, limits),
        "agents": agents_per_tier(recommendations),
        "utilisation": utilisation_per_tier(summary, recommendations),
    }
    if "capacity" in recommendations:
        charts["capacity"] = capacity_per_tier(recommendations)
    return charts
