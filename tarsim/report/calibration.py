"""Readable terminal report of a calibration: findings, fitted values, the measured vs
simulated table per row, and the hold-out prediction error."""

from __future__ import annotations

import math
from typing import Any

SEVERITY_MARK = {"info": "ok  ", "warning": "warn", "problem": "FAIL"}
METRIC_LABEL = {"throughput": ("throughput", "/s", 1.0), "p99": ("p99", "s", 1.0),
                "error_rate": ("errors", "%", 100.0), "memory_mb": ("memory", "MB", 1.0)}


def _v(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}"


def _err(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.1f}pt" if name == "error_rate" else f"{100 * value:+.1f}%"


def calibration_report(result: dict[str, Any]) -> str:
    """The ``tarsim calibrate`` JSON dict as text."""
    out = ["Findings (before the fit):"]
    for f in result["findings"]:
        out.append(f"  [{SEVERITY_MARK.get(f['severity'], f['severity'])}] {f['kind']}: "
                   f"{f['message']}")
    fit = result["fit"]
    out += ["", f"Fit: {fit['simulations']} simulations ({fit['duration_s']:g} s horizon, "
            f"warm-up {fit['warmup_s']:g} s, {fit['replications']} replications, seed "
            f"{fit['seed']}), {fit['iterations']} objective evaluations; sum of squared "
            f"errors {fit['cost']:.4g} in tolerance units ({fit['dof']} dof)"]
    if result.get("fit_set"):
        out.append("What is fitted, and why:")
        out += [f"  {f['path']:<34} {f['why']}" for f in result["fit_set"]]
    for warning in result.get("warnings", []):
        out.append(f"  [warn] {warning}")
    out.append("Fitted parameters (95% CI):")
    for p in result["parameters"]:
        low, high = p["ci95"]
        what = "x scale of " + ", ".join(p["leaves"]) if p["kind"] == "scale" else p["path"]
        label = f"{p['path']} (scale)" if p["kind"] == "scale" else p["path"]
        interval = f"[{_v(low)} .. {_v(high)}]" if p.get("identified", True) else \
            "not identified (flat profile)"
        out.append(f"  {label:<28} {_v(p['value'], 4):>10}  {interval}  "
                   f"start {_v(p['start'], 4)}")
        if p["kind"] == "scale" and len(what) < 160:
            out.append(f"  {'':<28} ({what})")
    out += ["", "Measured vs simulated (± 95% CI over replications; error: relative, "
            "errors in points):"]
    head = f"  {'row':>3} {'load':>6} {'agents':>6}  "
    head += "  ".join(f"{METRIC_LABEL[m][0]:>26}" for m in METRIC_LABEL)
    out.append(head)
    for i, row in enumerate(result["rows"], 1):
        cells = []
        for name, (_, unit, factor) in METRIC_LABEL.items():
            if name not in row["measured"]:
                cells.append(f"{'-':>26}")
                continue
            meas = row["measured"][name] * factor
            sim = row["simulated"][name] * factor
            half = row["ci95"].get(name)
            half_text = f"±{_v(half * factor, 2)}" if half is not None and \
                math.isfinite(half) else ""
            text = f"{_v(meas)}{unit} vs {_v(sim)}{half_text} {_err(name, row['error'][name])}"
            cells.append(text.rjust(26))
        agents = row["agents"] if row["agents"] is not None else "-"
        if row.get("p99_of") == "all":
            cells[1] = cells[1].rstrip() + " (p99 of all requests)"
        out.append(f"  {i:>3} {_v(row['load']):>6} {agents:>6}  " + "  ".join(cells))
    hold = result.get("holdout")
    if hold:
        out += ["", f"Prediction error on rows left out of the fit ({hold['kind']}):"]
        for r in hold["rows"]:
            errs = ", ".join(f"{METRIC_LABEL[k][0]} {_err(k, v)}" for k, v in r["error"].items())
            out.append(f"  row {r['row']}: {errs}")
        mean = ", ".join(f"{METRIC_LABEL[k][0]} {_err(k, v)}"
                         for k, v in hold["mean_abs_error"].items())
        out.append(f"  mean absolute: {mean}")
    return "\n".join(out)
