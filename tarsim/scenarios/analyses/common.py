"""What the analyses share: the label of the one variant, table-cell formatting
of numbers and estimates, and readers of records and summaries (latencies of
successful requests, offered rate, a metric with its CI)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from tarsim.config.model import Model
from tarsim.run import RunRecords
from tarsim.scenarios.registry import Runs
from tarsim.scenarios.stats import (
    Estimate,
)
from tarsim.vocabulary import Outcome

ONLY = ""
"""The label of the one variant of an analysis that simulates the scenario's model as is."""


# ---------------------------------------------------------------- formatting
def num(value: float | None, digits: int = 3) -> str:
    """A number for a table cell: about *digits* significant figures, no exponents
    for everyday magnitudes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
    return f"{value:.{decimals}f}"


def pct(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{100 * value:.1f}%" if value >= 0.001 or value == 0 else f"{100 * value:.2f}%"


def ci(estimate: Estimate, digits: int = 3) -> str:
    text = num(estimate.value, digits)
    return text if math.isnan(estimate.ci95) else f"{text} ± {num(estimate.ci95, 2)}"


def metric(summary: Mapping[str, Any], path: str) -> Estimate:
    """A metric of an aggregated summary and its CI half-width (NaN with one replication)."""
    node: Any = summary
    for part in path.split("."):
        node = node.get(part, math.nan) if isinstance(node, Mapping) else math.nan
    half = summary.get("ci95", {}).get(path, math.nan)
    return Estimate(float(node), float(half) if half is not None else math.nan)


def estimate_json(estimate: Estimate) -> dict[str, float]:
    return asdict(estimate)


def only_run(runs: Mapping[str, Runs]) -> Runs:
    return runs[ONLY]


def model_of(runs: Runs) -> Model:
    return runs.records[0].model


def offered_rate(summary: Mapping[str, Any]) -> float:
    window = summary["duration_s"] - summary["warmup_s"]
    return float(summary["arrived"]) / window if window > 0 else math.nan


def ok_latencies(records: Sequence[RunRecords], pick: Any = None) -> np.ndarray:
    """Latencies of successful requests arriving after the warm-up, pooled over
    replications; *pick(columns)* narrows the requests further."""
    parts = []
    for rec in records:
        req = rec.request_columns
        keep = ((req["outcome"] == Outcome.OK) & (req["arrival"] >= rec.warmup_s)
                & (req["arrival"] < rec.duration_s))
        if pick is not None:
            keep &= pick(rec)
        parts.append(req["end"][keep] - req["arrival"][keep])
    return np.concatenate(parts) if parts else np.array([])


def quantile_or_nan(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if len(values) else math.nan


