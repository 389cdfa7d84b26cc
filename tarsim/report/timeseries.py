"""Charts of one run's time series (altair), saved as PNG offline (vl-convert).

Charts take plain frames — the per-second time series of
:func:`tarsim.metrics.timeseries` and, where useful, the autoscaler's decisions —
so notebooks, reports and the docs scripts draw the same pictures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd


def autoscaling_chart(series: pd.DataFrame, decisions: pd.DataFrame | None = None,
                      title: str = "Autoscaling", concurrency: int | None = None,
                      target: float | None = None) -> alt.VConcatChart:
    """Three stacked panels over time: offered load and completions (req/s);
    agents up, with dashed rules at the autoscaler's scale-up (green) and
    scale-down (red) decisions; and, given the agents' *concurrency*, the busy
    share of their slots against the utilisation *target* (else the requests
    waiting)."""
    width, height = 640, 150
    base = alt.Chart(series).encode(x=alt.X("t:Q", title="time (s)"))
    load = series.melt("t", ["arrivals", "completions"], var_name="series", value_name="req/s")
    load_panel = alt.Chart(load).mark_line(interpolate="step-after").encode(
        x=alt.X("t:Q", title=None),
        y=alt.Y("req/s:Q", title="requests per second"),
        color=alt.Color("series:N", title=None),
    )
    agents_panel = base.mark_line(interpolate="step-after", color="#4c78a8").encode(
        y=alt.Y("agents:Q", title="agents up"))
    if concurrency is not None:
        busy = series.assign(utilization=series["busy"] / (series["agents"] * concurrency))
        third: Any = alt.Chart(busy).mark_line(
            interpolate="step-after", color="#f58518").encode(
            x=alt.X("t:Q", title="time (s)"),
            y=alt.Y("utilization:Q", title="busy share of slots"))
        if target is not None:
            third = alt.layer(third, alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(
                strokeDash=[2, 2], color="gray").encode(y="target:Q"))
    else:
        third = base.mark_area(interpolate="step-after", color="#e45756", opacity=0.6).encode(
            y=alt.Y("queue:Q", title="requests waiting"))
    panels = [load_panel, agents_panel, third]
    if decisions is not None and len(decisions):
        changes = decisions[decisions["desired"] != decisions["current"]].assign(
            direction=lambda d: (d["desired"] > d["current"]).map(
                {True: "scale up", False: "scale down"}),
            label=lambda d: d["current"].astype(int).astype(str) + " → "
            + d["desired"].astype(int).astype(str) + " at " + d["t"].map("{:g} s".format))
        rules = alt.Chart(changes).mark_rule(strokeDash=[4, 3]).encode(
            x="t:Q",
            color=alt.Color("direction:N", title=None,
                            scale=alt.Scale(domain=["scale up", "scale down"],
                                            range=["#54a24b", "#e45756"])),
            tooltip=["label:N"])
        labels = alt.Chart(changes).mark_text(align="left", dx=4, dy=-4, fontSize=11).encode(
            x="t:Q", y=alt.value(12), text="label:N")
        panels[1] = alt.layer(agents_panel, rules, labels)
    return alt.vconcat(
        *[p.properties(width=width, height=height) for p in panels],
        title=title,
    ).resolve_scale(color="independent")


def save_png(chart: alt.TopLevelMixin, path: str | Path, scale: float = 2.0) -> Path:
    """Render *chart* to a PNG file without a browser or network (vl-convert)."""
    import vl_convert as vlc

    path = Path(path)
    path.write_bytes(vlc.vegalite_to_png(chart.to_json(), scale=scale))
    return path
