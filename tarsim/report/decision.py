"""The decision a sweep supports, per tier, in a planner's words: a short label of
the recommended configuration, the verdict with its headroom or the SLO it misses
and by how much, the limit that binds (as a utilisation or a share of errors),
what the grid suggests would lift it, and warnings (edge of the grid,
extrapolation past the calibrated loads, assumptions the answer leans on).

Built from the tables a sweep writes (summary and recommendations, as data
frames), so the terminal table and the HTML report say the same; columns a table
lacks are skipped, not guessed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tarsim.report.numbers import load_text, money, number, percent
from tarsim.sweep.stats import SCREENED, SKIPPED, column, slo_ratios, upper_bound

if TYPE_CHECKING:
    import pandas as pd  # the tables arrive as frames; labels alone need no pandas

HOURS_PER_MONTH = 730.0
"""365 x 24 / 12: a month of continuous running."""
MOVE_THRESHOLD = 0.01
"""A grid change that moves the binding SLO's bound by less than this (relative)
is reported as moving nothing."""

SLO_NAMES = {"latency.p50": "p50", "latency.p95": "p95", "latency.p99": "p99",
             "latency.mean": "mean latency", "error_rate": "errors",
             "wait.mean": "mean wait", "wait.p99": "p99 wait"}
CAUSES = {
    "rate_limited": "API rate limits refusing calls (429s past the retries)",
    "api_error": "provider errors (5xx/overload) past the retries",
    "timeout": "calls timing out",
    "queue_full": "a full queue turning requests away",
    "oom": "agents running out of memory",
    "shed": "load shed by the degradation modes",
}


def slo_value(path: str, value: float) -> str:
    """An SLO metric's value in its unit (seconds or a percentage)."""
    if path == "error_rate":
        return percent(value)
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.2f} s" if value < 100 else f"{value:,.0f} s"


def _limit(path: str, value: float) -> str:
    return slo_value(path, value).replace(".00 s", " s")


def slo_text(limits: Mapping[str, float]) -> str:
    """``p99 <= 3 s and errors <= 1 %``."""
    parts = [f"{SLO_NAMES.get(p, p)} <= {_limit(p, v)}" for p, v in limits.items()]
    return " and ".join(parts)


# ---------------------------------------------------------------- labels
def axis_columns(summary: pd.DataFrame) -> list[str]:
    """The grid's axes: metric columns never hold a dot, axis columns always do."""
    return [c for c in summary.columns if "." in str(c)]


def _value(raw: Any) -> Any:
    if isinstance(raw, str) and raw[:1] in "{[":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _mix(mix: Any) -> str:
    if not isinstance(mix, dict) or not mix:
        return f"mix {mix}"
    names = {k: str(k).capitalize() for k in mix}
    shares = sorted(mix.items(), key=lambda kv: -float(kv[1]))
    if len(shares) == 1 or float(shares[0][1]) >= 0.999:
        return f"all {names[shares[0][0]]}"
    return "/".join(f"{names[k]} {100 * float(v):.0f}" for k, v in shares)


def _rate(raw: Any) -> str:
    text = str(raw)
    match = re.fullmatch(r"\s*([0-9.eE+]+)\s*(/.*)?", text)
    if match is None:
        return text
    amount = float(match.group(1))
    return f"{number(amount)}{match.group(2) or '/s'}"


def phrase(axis: str, raw: Any) -> str:
    """One axis value in a planner's words (``cache 60 %``, ``5 agents``)."""
    value = _value(raw)
    parts = axis.split(".")
    if axis == "routing.mix" or (parts[-1] == "mix" and parts[0] == "roles"):
        text = _mix(value)
        return text if axis == "routing.mix" else f"{parts[1]} {text}"
    if axis == "agents.count":
        return f"{number(float(value))} agent{'s' if float(value) != 1 else ''}"
    if axis == "deployment.hosts":
        return f"{number(float(value))} host{'s' if float(value) != 1 else ''}"
    if axis == "agents.concurrency":
        return f"{number(float(value))} slots/agent"
    if parts[-1] == "hit_rate" and parts[0] == "cache":
        where = "cache" if parts[1] == "context" else f"{parts[-2]} cache"
        return f"{where} {percent(float(value))}"
    if "limits" in parts and len(parts) >= 4:
        owner = {"openai": "OpenAI", "anthropic": "Anthropic"}.get(parts[1], parts[1])
        kind = {"requests": "", "input_tokens": " in-tok", "output_tokens": " out-tok"}.get(
            parts[-1], f" {parts[-1]}")
        return f"{owner}{kind} {_rate(value)}"
    return f"{parts[-1].replace('_', ' ')} {value}"


def is_assumption(axis: str) -> bool:
    """Axes that describe the world rather than a choice: cache hit rates, API plans."""
    parts = axis.split(".")
    return parts[-1] == "hit_rate" or "limits" in parts


def config_label(params: Mapping[str, Any]) -> tuple[str, str]:
    """(choices, assumptions): ``all Haiku, cache 60 %, 5 agents`` and, apart, the
    API plans (``OpenAI 10,000/min, search 500/s``)."""
    main = [phrase(a, v) for a, v in params.items() if "limits" not in a.split(".")]
    if "deployment.hosts" in params:  # agents.count is then agents per host
        main = [f"{text}/host" if axis == "agents.count" else text
                for axis, text in zip((a for a in params if "limits" not in a.split(".")),
                                      main, strict=True)]
    rest = [phrase(a, v) for a, v in params.items() if "limits" in a.split(".")]
    return ", ".join(main) or "the model as it is", ", ".join(rest)


# ---------------------------------------------------------------- decisions
@dataclass
class TierDecision:
    """What the terminal table and the report say about one tier."""

    tier: str
    meets: bool
    load_kind: str
    load: float
    """The tier's highest load: where the metrics below are read."""
    label: str
    plans: str
    bounds: dict[str, float]
    """SLO metric path -> 95 % upper bound at the highest load."""
    cost_per_hour: float
    verdict: str
    binding: str
    lift: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def cost_per_month(self) -> float:
        return self.cost_per_hour * HOURS_PER_MONTH


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _params(row: Mapping[str, Any], axes: Sequence[str]) -> dict[str, Any]:
    return {a: row[a] for a in axes if a in row and not _missing(row[a])}


def _missing(value: Any) -> bool:
    """An axis a tier does not vary: NaN in a numeric column, "None" in a text one."""
    return value is None or value == "None" or (isinstance(value, float) and math.isnan(value))


def decide(summary: pd.DataFrame, recommendations: pd.DataFrame,
           limits: Mapping[str, float], *,
           calibrated_up_to: float | None = None) -> list[TierDecision]:
    """One :class:`TierDecision` per row of *recommendations*."""
    axes = axis_columns(summary)
    by_point = summary.set_index("point", drop=False)
    decisions = []
    for _, rec in recommendations.iterrows():
        point = int(rec["point"])
        row = by_point.loc[point] if point in by_point.index else rec
        tier_rows = summary[summary["tier"] == rec["tier"]]
        params = _params(row, axes)
        label, plans = config_label(params)
        meets = rec["status"] == "ok"
        kind, load = str(rec.get("load_kind", "rate")), _num(rec.get("load"))
        bounds = {p: upper_bound(row, column(p)) for p in limits}
        decision = TierDecision(
            tier=str(rec["tier"]), meets=meets, load_kind=kind, load=load, label=label,
            plans=plans, bounds=bounds,
            cost_per_hour=_num(rec.get("cost_per_hour_usd")),
            verdict=_verdict(rec, tier_rows, limits, meets),
            binding=_binding_slo(rec, bounds, limits) + binding_words(rec, row),
        )
        if not meets:
            decision.lift = _lift(row, tier_rows, axes, limits)
        decision.warnings = _warnings(rec, row, tier_rows, axes, limits, calibrated_up_to)
        decisions.append(decision)
    return decisions


def _binding_slo(rec: Mapping[str, Any], bounds: Mapping[str, float],
                 limits: Mapping[str, float]) -> str:
    """``p99 at 90 % of its limit; `` for the SLO closest to (or furthest past) its limit."""
    path = str(rec.get("binding_slo", "") or "")
    if path not in limits or not limits[path] or not math.isfinite(bounds.get(path, math.nan)):
        return ""
    ratio = bounds[path] / limits[path]
    level = f"{ratio:.0f}x" if ratio >= 2 else f"at {percent(ratio)} of"
    return f"{SLO_NAMES.get(path, path)} {level} its limit; "


def _verdict(rec: Mapping[str, Any], tier_rows: pd.DataFrame, limits: Mapping[str, float],
             meets: bool) -> str:
    kind = str(rec.get("load_kind", "rate"))
    mine = tier_rows[tier_rows["config"] == rec["config"]].sort_values("load")
    loads = [load_text(kind, x) for x in mine["load"]]
    if meets:
        text = f"meets {slo_text(limits)} at {_listing(loads)}"
        capacity = _num(rec.get("capacity"))
        top = _num(rec.get("load"))
        if math.isfinite(capacity) and top > 0:
            text += (f"; capacity {load_text(kind, capacity)}, "
                     f"{capacity / top:.1f}x the top load")
        elif "capacity" not in rec:
            text += "; capacity not searched (capacity: true would)"
        return text
    unsimulated = (mine["verdict"].isin([SCREENED, SKIPPED]).to_numpy() if "verdict" in mine
                   else mine.index.isin([]))
    failing = [(x, slo_ratios(x, limits)) for _, x in mine[~unsimulated].iterrows()]
    passing = [_num(x["load"]) for x, ratios in failing
               if max(ratios.values(), default=0.0) <= 1.0]
    failing = [(x, r) for x, r in failing if max(r.values(), default=0.0) > 1.0]
    if not failing:
        if unsimulated.any():
            screened = [load_text(kind, x) for x in mine[mine["verdict"] == SCREENED]["load"]]
            skipped = [load_text(kind, x) for x in mine[mine["verdict"] == SKIPPED]["load"]]
            text = f"cannot meet {slo_text(limits)}: screened at {_listing(screened)}"
            return text + (f" (so not simulated at {_listing(skipped)})" if skipped else "")
        return f"misses {slo_text(limits)}"
    shown, ratios = failing[-1]  # the highest load that fails
    misses = [_miss(p, upper_bound(shown, column(p)), limits[p]) for p in limits
              if ratios[p] > 1.0]
    text = f"misses {'; '.join(misses)} at {load_text(kind, _num(shown['load']))}"
    if len(failing) > 1:
        text += f" (and at {_listing([load_text(kind, _num(x['load'])) for x, _ in failing[:-1]])})"
    if passing:
        text += f"; meets all at {_listing([load_text(kind, x) for x in passing])}"
    return text


def _miss(path: str, bound: float, limit: float) -> str:
    name = SLO_NAMES.get(path, path)
    if not math.isfinite(bound):
        return f"{name} (no successful request)"
    if path == "error_rate":
        return f"{name} {percent(bound)} vs {percent(limit)} ({bound / limit:.0f}x)" \
            if limit > 0 and bound >= 2 * limit else \
            f"{name} {percent(bound)} vs {percent(limit)} (+{percent(bound - limit)} pts)"
    return (f"{name} {slo_value(path, bound)} vs {_limit(path, limit)} "
            f"(+{bound - limit:.2f} s, +{100 * (bound / limit - 1):.0f} %)")


def short_reason(row: Mapping[str, Any]) -> str:
    """The first clause of a point's screening reason (``tool search requests: demand
    140% of the limit``)."""
    reason = str(row.get("screen_reason", "") or "")
    return reason.split(";")[0].split(", so ")[0].split(" > the ")[0].strip()


def _listing(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return items[0] if items else "-"
    unit = items[0].split(" ", 1)[1] if " " in items[0] else ""
    numbers = [i.split(" ", 1)[0] for i in items]
    return f"{', '.join(numbers[:-1])} and {numbers[-1]} {unit}".strip()


_UTILIZATION = re.compile(r"([\w .-]+?) \(utili[sz]ation ([0-9.]+)\)")


def binding_words(rec: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    """The bottleneck a recommendation names, in a planner's words."""
    text = str(rec.get("bottleneck", "") or "")
    busiest = _busiest_text(row) or _utilization_in(text)
    if text.startswith("errors:"):
        match = re.match(r"errors: (\w+) \((\d+%) of errors\)", text)
        if match:
            cause, share = match.groups()
            words = CAUSES.get(cause, cause.replace("_", " "))
            limit = _tightest_limit(row)
            return f"{words}: {share.replace('%', ' %')} of errors{limit}"
        return text
    if text.startswith("rate limits:"):
        match = re.search(r"429s on (\S+) of calls", text)
        share = match.group(1).replace("%", " %") if match else "many"
        return f"waiting out API rate limits: 429s on {share} of calls, retried" \
            + _tightest_limit(row)
    if text.startswith("service time"):
        return f"the calls' own response time, not queueing ({busiest})" if busiest else \
            "the calls' own response time, not queueing"
    if busiest and text:
        return f"{busiest}: requests queue for it"
    return text or "-"


def _utilization_in(text: str) -> str:
    match = _UTILIZATION.search(text)
    if match is None:
        return ""
    name, level = match.groups()
    return f"{name.strip()} {percent(float(level))} busy"


def _busiest_text(row: Mapping[str, Any]) -> str:
    levels = {k[: -len("_utilization")]: _num(v) for k, v in row.items()
              if str(k).endswith("_utilization")}
    levels = {k: v for k, v in levels.items() if math.isfinite(v)}
    if not levels:
        return ""
    name = max(levels, key=lambda k: levels[k])
    return f"{name.replace('_', ' ')} {percent(levels[name])} busy"


LIMIT_COLUMN = re.compile(r"api_limits_(providers|llms|tools)_(.+)_(requests|input_tokens|"
                          r"output_tokens)_refused")
"""Summary columns of the 429s each rate limit gave (``api.limits...refused``)."""
LIMIT_KINDS = {"requests": "request", "input_tokens": "input-token",
               "output_tokens": "output-token"}


def limit_name(scope: str, name: str, kind: str) -> str:
    """``the search request limit`` (``OpenAI``, ``Anthropic`` capitalised)."""
    owner = {"openai": "OpenAI", "anthropic": "Anthropic"}.get(name, name)
    return f"the {owner} {LIMIT_KINDS.get(kind, kind)} limit"


def _tightest_limit(row: Mapping[str, Any]) -> str:
    """``; the search request limit gave 97 % of the 429s`` when the sweep recorded
    refusals per limit."""
    by = {}
    for key, value in row.items():
        match = LIMIT_COLUMN.fullmatch(str(key))
        if match is not None and math.isfinite(_num(value)) and _num(value) > 0:
            by[limit_name(*match.groups())] = _num(value)
    if not by:
        return ""
    name = max(by, key=lambda k: by[k])
    return f"; {name} gave {by[name] / sum(by.values()):.0%} of the 429s".replace("%", " %")


def _worst(row: Mapping[str, Any], limits: Mapping[str, float]) -> float:
    return max(slo_ratios(row, limits).values(), default=0.0)


def _lift(row: Mapping[str, Any], tier_rows: pd.DataFrame, axes: Sequence[str],
          limits: Mapping[str, float]) -> str:
    """The single change of one grid axis (at the same load) that moves the worst SLO
    most, and whether anything in the grid meets the SLOs there."""
    same_load = tier_rows[tier_rows["load"] == row["load"]]
    mine = _params(row, axes)
    base = _worst(row, limits)
    best: tuple[float, str, Mapping[str, Any]] | None = None
    for _, other in same_load.iterrows():
        theirs = _params(other, axes)
        changed = [a for a in mine if theirs.get(a) != mine[a]]
        if len(changed) != 1 and not (changed and all(is_assumption(a) for a in changed)):
            continue
        worst = _worst(other, limits)
        if best is None or worst < best[0]:
            what = ", ".join(phrase(a, theirs[a]) for a in changed)
            best = (worst, what, other)
    anyone = [o for _, o in same_load.iterrows() if _worst(o, limits) <= 1.0]
    where = load_text(str(row.get("load_kind", "rate")), _num(row["load"]))
    if best is None or not math.isfinite(base) or best[0] >= base * (1 - MOVE_THRESHOLD):
        tail = "" if anyone else f"; nothing in the grid meets the SLOs at {where}"
        return (f"no single change in the grid improves it by {percent(MOVE_THRESHOLD)} "
                f"or more{tail}")
    worst, what, other = best
    path = max(limits, key=lambda p: slo_ratios(row, limits)[p])
    before = slo_value(path, upper_bound(row, column(path)))
    after = slo_value(path, upper_bound(other, column(path)))
    name = SLO_NAMES.get(path, path)
    text = f"{what}: {name} {before} -> {after}"
    if worst <= 1.0:
        return text + " (meets the SLOs)"
    return text + ("" if anyone else f"; nothing in the grid meets the SLOs at {where}")


def _warnings(rec: Mapping[str, Any], row: Mapping[str, Any], tier_rows: pd.DataFrame,
              axes: Sequence[str], limits: Mapping[str, float],
              calibrated_up_to: float | None) -> list[str]:
    out = []
    mine = _params(row, axes)
    for axis, value in mine.items():
        values = [_num(v) for v in tier_rows[axis].dropna().unique()]
        if not values or not math.isfinite(_num(value)) or any(math.isnan(v) for v in values):
            continue
        low, high = min(values), max(values)
        if low == high:
            if axis.startswith("agents."):
                out.append(f"edge of the grid: only {phrase(axis, value)} tried")
            continue
        if _num(value) == low and axis.startswith("agents.") and rec["status"] == "ok":
            out.append(f"edge of the grid: {phrase(axis, value)} is the fewest tried; "
                       "fewer may also do")
        elif _num(value) == high and axis.startswith("agents.") and rec["status"] != "ok":
            out.append(f"edge of the grid: {phrase(axis, value)} is the most tried")
    load, capacity = _num(rec.get("load")), _num(rec.get("capacity"))
    if calibrated_up_to and rec.get("load_kind", "rate") == "rate":
        calibrated = f"the calibrated range (up to {load_text('rate', calibrated_up_to)})"
        if load > calibrated_up_to:
            out.append(f"extrapolated: {load_text('rate', load)} is past {calibrated}")
        elif capacity > calibrated_up_to:
            out.append(f"extrapolated: the capacity, {load_text('rate', capacity)}, is past "
                       f"{calibrated}")
    out += _assumptions(row, tier_rows, axes, limits)
    if str(rec.get("uncertain", "")).lower() in ("true", "1"):
        out.append("uncertain: a 95 % interval straddles an SLO limit")
    return out


def _assumptions(row: Mapping[str, Any], tier_rows: pd.DataFrame, axes: Sequence[str],
                 limits: Mapping[str, float]) -> list[str]:
    """What the answer leans on: a cache hit rate above the lowest tried, API plans
    other than the first tried (all limit axes together); each with the same
    configuration's numbers without it, where the grid has them."""
    mine = _params(row, axes)
    groups = [[a] for a in mine if is_assumption(a) and "limits" not in a.split(".")]
    plans = [a for a in mine if "limits" in a.split(".")]
    groups += [plans] if plans else []
    same_load = tier_rows[tier_rows["load"] == row["load"]]
    out = []
    for group in groups:
        plain = {}
        for axis in group:
            tried = list(dict.fromkeys(tier_rows[axis].dropna()))
            numeric = all(math.isfinite(_num(v)) for v in tried)
            plain[axis] = min(tried, key=_num) if numeric and "limits" not in axis else tried[0]
        if all(mine[a] == plain[a] for a in group):
            continue
        twin = same_load
        for axis, value in {**mine, **plain}.items():
            twin = twin[twin[axis] == value]
        what = ", ".join(phrase(a, mine[a]) for a in group if mine[a] != plain[a])
        highest = len(group) == 1 and _num(mine[group[0]]) == max(
            (_num(v) for v in tier_rows[group[0]].dropna()), default=math.nan)
        text = f"assumes {what}" + (", the highest tried" if highest else "")
        if len(twin) and limits and twin.iloc[0].get("verdict") in (SCREENED, SKIPPED):
            without = ", ".join(phrase(a, plain[a]) for a in group if mine[a] != plain[a])
            text += f" (with {without}: screened, {short_reason(twin.iloc[0])})"
        elif len(twin) and limits:
            other = twin.iloc[0]
            path = max(limits, key=lambda p: slo_ratios(other, limits)[p])
            without = ", ".join(phrase(a, plain[a]) for a in group if mine[a] != plain[a])
            text += (f" (with {without}: {SLO_NAMES.get(path, path)} "
                     f"{slo_value(path, upper_bound(other, column(path)))}, "
                     f"{money(_num(other.get('total_per_hour_usd')))}/h)")
        out.append(text)
    return out
