"""The autoscaling chart renders offline to a PNG (altair + vl-convert)."""

from __future__ import annotations

import pandas as pd

from tarsim.report.timeseries import autoscaling_chart, save_png


def test_autoscaling_chart_png(tmp_path):
    """A small series with one scale-up decision renders to a PNG file."""
    series = pd.DataFrame({"t": [0.0, 1.0, 2.0], "arrivals": [1, 5, 5], "completions": [1, 4, 5],
                           "queue": [0.0, 1.0, 0.0], "busy": [1.0, 2.0, 2.0],
                           "agents": [1.0, 1.0, 2.0]})
    decisions = pd.DataFrame({"t": [1.0], "metric": [0.9], "current": [1], "recommended": [2],
                              "desired": [2]})
    for concurrency in (None, 2):
        chart = autoscaling_chart(series, decisions, concurrency=concurrency, target=0.5)
        path = save_png(chart, tmp_path / f"chart{concurrency}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
