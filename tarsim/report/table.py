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


KIND_WORDS = {"requests": "requests", "input_tokens": "input tokens",
              "output_tokens": "output tokens"}


def _limit_rows(tree: dict[str, Any]) -> Any:
    """``tools.search requests: 2,516 429s, 447 failed for good`` for each limit
    that refused anything, most refusals first."""
    rows = []
    for scope, owners in tree.items():
        for owner, kinds in owners.items():
            for kind, counts in kinds.items():
                refused, failed = counts.get("refused", 0), counts.get("failed", 0)
                if refused or failed:
                    rows.append((refused, f"{scope}.{owner} {KIND_WORDS.get(kind, kind)}: "
                                 f"{refused:,.0f} 429s, {failed:,.0f} "
                                 "failed for good"))
    return [text for _, text in sorted(rows, key=lambda r: -r[0])]


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
    if "hosts" in summary:  # an autoscaled deployment
        rows.insert(8, ("hosts mean / max", f"{_cell(summary, 'hosts.mean', '', 2)} / "
                                            f"{_num(summary['hosts']['max'], '', 0)}"))
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    errors = {k: v for k, v in summary.get("errors", {}).items() if v}
    if errors:
        lines.append("  " + "errors by cause".ljust(width) + "  " +
                     ", ".join(f"{k} {_num(v, '', 1)}" for k, v in errors.items()))
    limited = list(_limit_rows(summary.get("api", {}).get("limits", {})))
    if limited:
        lines.append("  " + "429s by limit".ljust(width) + "  " + limited[0])
        lines += ["  " + "".ljust(width) + "  " + text for text in limited[1:]]
    if summary.get("unfinished"):
        lines.append(f"  warning: {summary['unfinished']} requests had not answered when the "
                     "run stopped: the offered load may exceed capacity")
    if reps > 1:
        lines += ["", "  ± is the half-width of the 95% confidence interval over replications"]
    return "\n".join(lines)


WIDTH = 100
"""The terminal table fits this many columns; details go to the CSV and report."""


def _wrap(text: str, width: int, sep: str = ", ") -> list[str]:
    """*text* in lines of at most *width*, broken after *sep* (or spaces)."""
    import textwrap

    if len(text) <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for piece in text.split(sep):
        candidate = piece if not current else current + sep + piece
        if len(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current + sep.rstrip())
        current = piece
    lines.append(current)
    return [part for line in lines for part in (textwrap.wrap(line, width) or [""])]


def decision_table(decisions: list[Any], limits: dict[str, float],
                   width: int = WIDTH) -> str:
    """The sweep's answer per tier in at most *width* columns: a row of numbers (at the
    tier's highest load; p99 and errors are 95 % upper bounds, as the verdict uses),
    then the verdict with headroom or the missed SLO, the binding limit, what the
    grid suggests would lift it and any warnings."""
    from tarsim.report.decision import SLO_NAMES, load_text, money, slo_text, slo_value

    slo_heads = [SLO_NAMES.get(p, p) + "*" for p in limits]
    headers = ["tier", "load", "SLOs", "configuration", *slo_heads, "$/hour", "$/month"]
    rows = []
    for d in decisions:
        rows.append([d.tier, load_text(d.load_kind, d.load).replace(" req/s", "/s"),
                     "ok" if d.meets else "MISS",
                     d.label + (", " + d.plans if d.plans else ""),
                     *(slo_value(p, d.bounds.get(p, math.nan)) for p in limits),
                     money(d.cost_per_hour), money(d.cost_per_month)])
    fixed = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
             for i, h in enumerate(headers)]
    config_col = 3
    others = sum(w for i, w in enumerate(fixed) if i != config_col) + 2 * (len(headers) - 1)
    fixed[config_col] = max(20, min(fixed[config_col], width - others))
    right = set(range(4, len(headers)))

    def line(cells: list[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, fixed, strict=True))]
        return "  ".join(out).rstrip()

    lines = [f"Cheapest configuration per tier meeting {slo_text(limits)} at every load of "
             "the tier", "", line(headers), line(["-" * w for w in fixed])]
    indent = "    "
    for d, cells in zip(decisions, rows, strict=True):
        wrapped = _wrap(cells[config_col], fixed[config_col])
        lines.append(line([*cells[:config_col], wrapped[0], *cells[config_col + 1:]]))
        for more in wrapped[1:]:
            lines.append(line(["", "", "", more, *([""] * (len(headers) - 4))]))
        notes = [("", d.verdict), ("limit: ", d.binding)]
        if d.lift:
            notes.append(("lift: ", d.lift))
        notes += [("! ", w) for w in d.warnings]
        for prefix, text in notes:
            body = _wrap(prefix + text, width - len(indent) - 2, sep=" ")
            lines.append(indent + body[0])
            lines += [indent + "  " + b for b in body[1:]]
        lines.append("")
    lines.append(f"* 95 % upper bounds at the tier's highest load; {load_text('rate', 1)} "
                 "= requests a second; a month = 730 h")
    return "\n".join(lines)


COMPARE_LABELS = {"throughput": ("throughput", " req/s", 1.0), "latency.p50": ("p50", " s", 1.0),
                  "latency.p99": ("p99", " s", 1.0), "error_rate": ("errors", " %", 100.0),
                  "wait.mean": ("wait for an agent", " s", 1.0),
                  "agents.utilization": ("agents busy", " %", 100.0),
                  "cost.per_hour_usd": ("$/hour", "", 1.0),
                  "cost.per_request_usd": ("$/request", "", 1.0)}


def compare_table(result: dict[str, Any]) -> str:
    """Variants side by side; each after the first with its paired difference from
    the first and the difference's 95 % CI half-width (same seeds: common random
    numbers)."""
    variants = result["variants"]
    base = variants[0]
    headers = ["metric", base, *(f"{v} (vs {base})" for v in variants[1:])]
    rows = []
    for name, entries in result["metrics"].items():
        label, unit, scale = COMPARE_LABELS.get(name, (name, "", 1.0))
        cells = [label, _num(entries[base]["mean"] * scale, unit)]
        for variant in variants[1:]:
            entry = entries[variant]
            diff = entry.get("diff", math.nan) * scale
            half = entry.get("diff_ci95", math.nan) * scale
            sign = "+" if isinstance(diff, float) and diff >= 0 else ""
            text = f"{_num(entry['mean'] * scale, unit)} ({sign}{_num(diff, '')}"
            if isinstance(half, float) and math.isfinite(half):
                text += f" ± {_num(half, '')}"
                if abs(diff) > half:
                    text += " *"
            cells.append(text + ")")
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines += ["", "(vs: the paired difference ± its 95 % CI half-width, replication by",
              " replication on the same seeds; * = the interval excludes 0)"]
    return "\n".join(lines)
