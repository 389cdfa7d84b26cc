"""The charts of a sweep report, as altair charts built from the sweep's tables.

Throughput and p99 against load with 95% CI bands and the SLO line; errors by
cause for each tier's recommended configuration; cost per request against p99
with each tier's Pareto front; agents needed per tier; the binding bottleneck
per tier. Each chart gets only the columns it draws, under plain names (no dots,
which Vega-Lite would read as nested fields).
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


def _rule(value: float, label: str) -> alt.Chart:
    data = pd.DataFrame({"y": [value], "label": [label]})
    base = alt.Chart(data)
    return (base.mark_rule(color="#d62728", strokeDash=[6, 4]).encode(y="y:Q")
            + base.mark_text(align="left", dx=4, dy=-6, color="#d62728")
            .encode(y="y:Q", text="label:N", x=alt.value(0)))


def against_load(summary: pd.DataFrame, metric: str, title: str, unit: str,
                 slo: float | None = None) -> alt.Chart:
    """*metric* (mean and CI band) against the offered load, one line per
    configuration, coloured by tier."""
    frame = _safe(_with_bounds(summary, metric))
    frame = frame[frame["load"].notna()]
    data = pd.DataFrame({
        "tier": frame["tier"], "config": frame["config"], "load": frame["load"],
        "value": frame[metric], "lo": frame["lo"], "hi": frame["hi"],
    })
    x = alt.X("load:Q", title="offered load (req/s or users)",
              scale=alt.Scale(type="log" if (data["load"] > 0).all() and len(data) else "linear"))
    base = alt.Chart(data)
    band = base.mark_area(opacity=0.15).encode(
        x=x, y="lo:Q", y2="hi:Q", color="tier:N", detail="config:N")
    line = base.mark_line(point=True, strokeWidth=1.5).encode(
        x=x, y=alt.Y("value:Q", title=f"{title} ({unit})" if unit else title),
        color=alt.Color("tier:N", title="tier"), detail="config:N",
        tooltip=["tier:N", "config:N", "load:Q", alt.Tooltip("value:Q", format=".4g"),
                 alt.Tooltip("lo:Q", format=".4g"), alt.Tooltip("hi:Q", format=".4g")])
    chart = band + line
    if slo is not None:
        chart = chart + _rule(slo, f"SLO {slo:g}")
    return chart.properties(title=f"{title} against load (95% CI bands)", width=WIDTH,
                            height=HEIGHT)


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


def cost_against_p99(summary: pd.DataFrame, slo_p99: float | None) -> alt.Chart:
    """Cost per request against p99 for every point, with each tier's Pareto front."""
    frame = _safe(summary)
    data = pd.DataFrame({"tier": frame["tier"], "config": frame["config"],
                         "load": frame["load"], "cost": frame["total_per_request_usd"],
                         "p99": frame["latency_p99"]})
    data = data[data["cost"].notna() & data["p99"].notna()]
    fronts = []
    for _, group in data.groupby("tier", sort=False):
        front = group[pareto_front(group, "cost", "p99")].sort_values("p99")
        fronts.append(front)
    front_data = pd.concat(fronts) if fronts else data.iloc[:0]
    scatter = alt.Chart(data).mark_circle(size=40, opacity=0.5).encode(
        x=alt.X("p99:Q", title="p99 latency (s)"),
        y=alt.Y("cost:Q", title="cost per request (USD)"),
        color=alt.Color("tier:N", title="tier"),
        tooltip=["tier:N", "config:N", "load:Q", alt.Tooltip("p99:Q", format=".3f"),
                 alt.Tooltip("cost:Q", format=".5f")])
    front = alt.Chart(front_data).mark_line(point=True, strokeWidth=2).encode(
        x="p99:Q", y="cost:Q", color="tier:N", order="p99:Q")
    chart = scatter + front
    if slo_p99 is not None:
        chart = chart + alt.Chart(pd.DataFrame({"x": [slo_p99]})).mark_rule(
            color="#d62728", strokeDash=[6, 4]).encode(x="x:Q")
    return chart.properties(title="Cost per request against p99, with each tier's Pareto front",
                            width=WIDTH, height=HEIGHT)


def agents_per_tier(recommendations: pd.DataFrame) -> alt.Chart:
    data = pd.DataFrame({"tier": recommendations["tier"],
                         "agents": recommendations["agents_count"],
                         "status": recommendations["status"],
                         "config": recommendations["config"]})
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("tier:N", sort=list(data["tier"]), title="tier"),
        y=alt.Y("agents:Q", title="agents"),
        color=alt.Color("status:N", title="status",
                        scale=alt.Scale(domain=["ok", "no configuration meets the SLOs"],
                                        range=["#2ca02c", "#d62728"])),
        tooltip=["tier:N", "agents:Q", "status:N", "config:N"],
    ).properties(title="Agents needed per tier (recommended configuration)", width=WIDTH,
                 height=HEIGHT)


def bottleneck_per_tier(recommendations: pd.DataFrame) -> alt.Chart:
    data = pd.DataFrame({"tier": recommendations["tier"],
                         "bottleneck": recommendations["bottleneck"],
                         "resource": recommendations["bottleneck_resource"],
                         "binding_slo": recommendations["binding_slo"],
                         "one": 1})
    base = alt.Chart(data).encode(y=alt.Y("tier:N", sort=list(data["tier"]), title="tier"))
    bars = base.mark_bar().encode(
        x=alt.X("one:Q", axis=None, title=""),
        color=alt.Color("resource:N", title="binding bottleneck"),
        tooltip=["tier:N", "bottleneck:N", "binding_slo:N"])
    text = base.mark_text(align="left", dx=6, color="white").encode(
        x=alt.value(0), text="bottleneck:N")
    return (bars + text).properties(title="Binding bottleneck per tier", width=WIDTH,
                                    height=max(80, 36 * len(data)))


def sweep_charts(summary: pd.DataFrame, recommendations: pd.DataFrame,
                 limits: Mapping[str, float]) -> dict[str, alt.Chart]:
    """Every chart of the report, by file name (without extension)."""
    return {
        "throughput": against_load(summary, "throughput", "Throughput", "req/s"),
        "p99": against_load(summary, "latency_p99", "p99 latency", "s", limits.get("latency.p99")),
        "errors": errors_by_cause(summary, recommendations),
        "cost_vs_p99": cost_against_p99(summary, limits.get("latency.p99")),
        "agents": agents_per_tier(recommendations),
        "bottleneck": bottleneck_per_tier(recommendations),
    }
