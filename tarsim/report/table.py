"""Readable terminal tables of ``tarsim run`` results."""

from __future__ import annotations

import math
from typing import Any

from tarsim.config.model import Model


def _num(value: Any, unit: str = "", digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.{digits}g}{unit}"
    return f"{value:,.{digits}f}{unit}" if magnitude < 100 else f"{value:,.1f}{unit}"


def _cell(summary: dict[str, Any], path: str, unit: str = "", digits: int = 3) -> str:
    node: Any = summary
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    text = _num(node, unit, digits)
    half = summary.get("ci95", {}).get(path)
    if half is not None and not (isinstance(half, float) and math.isnan(half)) and text != "-":
        text += f" ± {_num(half, unit, digits)}"
    return text


ROWS: list[tuple[str, str, str, int]] = [
    ("throughput", "throughput", " req/s", 2),
    ("latency mean", "latency.mean", " s", 3),
    ("latency p50", "latency.p50", " s", 3),
    ("latency p95", "latency.p95", " s", 3),
    ("latency p99", "latency.p99", " s", 3),
    ("error rate", "error_rate", "", 4),
    ("queue mean / max", "queue.mean", "", 2),
    ("agents mean", "agents.mean", "", 2),
    ("utilization", "agents.utilization", "", 3),
    ("memory peak", "memory.peak_mb", " MB", 2),
    ("cost per request", "cost.per_request_usd", " $", 5),
    ("cost per hour", "cost.per_hour_usd", " $", 2),
]


def run_table(summary: dict[str, Any], model: Model | None = None) -> str:
    """The summary as aligned 'metric  value' lines, with 95% CIs when present."""
    reps = summary.get("replications", 1)
    head = (
        f"model {summary['model']}  seed {summary['seed']}  "
        f"horizon {summary['duration_s']:g}s (warm-up {summary['warmup_s']:g}s)  "
        f"replications {reps}"
    )
    lines = [head, ""]
    rows = [(label, _cell(summary, path, unit, digits)) for label, path, unit, digits in ROWS]
    rows[6] = ("queue mean / max",
               f"{_cell(summary, 'queue.mean', '', 2)} / {_num(summary['queue']['max'], '', 0)}")
    rows.insert(0, ("requests arrived / ok",
                    f"{_num(summary['arrived'], '', 0)} / {_num(summary['completed'], '', 0)}"))
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    errors = {k: v for k, v in summary.get("errors", {}).items() if v}
    if errors:
        lines.append("  " + "errors by cause".ljust(width) + "  " +
                     ", ".join(f"{k} {_num(v, '', 1)}" for k, v in errors.items()))
    if summary.get("unfinished"):
        lines.append(f"  warning: {summary['unfinished']} requests had not answered when the "
                     "run stopped: the offered load may exceed capacity")
    if reps > 1:
        lines += ["", "  ± is the half-width of the 95% confidence interval over replications"]
    return "\n".join(lines)


def recommendation_table(recommendations: Any) -> str:
    """Per tier: the recommended configuration, its p99 and error rate (with 95%
    upper bounds), cost, agents and binding bottleneck, as aligned text."""
    headers = ["tier", "status", "load", "configuration", "hosts", "agents", "p99 s (ub)",
               "errors (ub)", "$/hour", "$/request", "bottleneck"]
    rows = []
    for _, rec in recommendations.iterrows():
        load = rec["load"]
        rows.append([
            str(rec["tier"]),
            "ok" if rec["status"] == "ok" else "NONE MEETS SLO (closest)",
            "-" if isinstance(load, float) and math.isnan(load) else f"{load:g}",
            str(rec["config"]),
            str(rec.get("hosts", 1)),
            str(rec["agents_count"]),
            f"{_num(rec['latency_p99'], '', 2)} ({_num(rec['latency_p99_ub'], '', 2)})",
            f"{_num(rec['error_rate'], '', 4)} ({_num(rec['error_rate_ub'], '', 4)})",
            _num(rec["cost_per_hour_usd"], "", 2),
            _num(rec["cost_per_request_usd"], "", 5),
            str(rec["bottleneck"]),
        ])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    runners = [f"  {rec['tier']}: runner-up {rec['runner_up']}"
               for _, rec in recommendations.iterrows() if rec.get("runner_up")]
    if runners:
        lines += ["", *runners]
    if "capacity" in recommendations:
        capacities = [f"  {rec['tier']}: the recommended configuration sustains "
                      f"{rec['capacity']:.4g} and fails at {rec['capacity_failed_at']:.4g}"
                      for _, rec in recommendations.iterrows()
                      if not math.isnan(rec["capacity"])]
        if capacities:
            lines += ["", *capacities]
    return "\n".join(lines)
