"""The study report: a tornado chart (one-at-a-time), Sobol bar charts (first- and
total-order indices with their 95% CIs), Morris mu* bars, an ensemble's bands,
and the "what decides this answer" table, in one self-contained HTML page (the
JavaScript inlined through vl-convert, as the sweep report) and as PNG files.

Names from YAML files (parameter paths and labels, the study's name) are escaped
as in the sweep report.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from tarsim.metrics import json_safe
from tarsim.report.html import cell, chart_specs, page_parts, script_json
from tarsim.sensitivity.runner import StudyResult

OUTPUT_TITLES = {"throughput": "throughput (req/s)", "p99": "p99 latency (s)",
                 "p50": "p50 latency (s)", "p95": "p95 latency (s)",
                 "latency_mean": "mean latency (s)", "error_rate": "error rate",
                 "cost": "cost per request (USD)", "cost_per_hour": "cost per hour (USD)",
                 "wait_mean": "mean wait (s)", "wait_p99": "p99 wait (s)",
                 "memory": "peak memory (MB)", "slo": "meets the SLOs (0/1)"}


def tornado_chart(frame: pd.DataFrame, output: str) -> alt.Chart:
    """Bars from the output at each parameter's low end to its high end, the
    largest swing on top, with a rule at the output at the base values."""
    part = frame[frame["output"] == output].copy()
    part["lo"] = part[["at_low", "at_high"]].min(axis=1)
    part["hi"] = part[["at_low", "at_high"]].max(axis=1)
    part["range"] = [f"{cell(a)} .. {cell(b)}" for a, b in
                     zip(part["low_value"], part["high_value"], strict=True)]
    order = list(part["label"])
    title = OUTPUT_TITLES.get(output, output)
    bars = alt.Chart(part).mark_bar().encode(
        x=alt.X("lo:Q", title=title), x2="hi:Q",
        y=alt.Y("label:N", sort=order, title=None),
        tooltip=["label", "range", "at_low", "at_high"],
    )
    base = alt.Chart(pd.DataFrame({"base": [float(part["at_base"].iloc[0])]})).mark_rule(
        color="black").encode(x="base:Q")
    return (bars + base).properties(title=f"Tornado: {title}", width=420)


def sobol_chart(frame: pd.DataFrame, output: str) -> alt.Chart:
    """First- (S1) and total-order (ST) indices per parameter, with 95% CIs,
    sorted by ST."""
    part = frame[frame["output"] == output]
    rows = []
    for _, r in part.iterrows():
        for index in ("S1", "ST"):
            rows.append({"label": r["label"], "index": index, "value": r[index],
                         "low": r[index] - r[f"{index}_conf"],
                         "high": r[index] + r[f"{index}_conf"]})
    data = pd.DataFrame(rows)
    order = list(part.sort_values("ST", ascending=False)["label"])
    title = OUTPUT_TITLES.get(output, output)
    y = alt.Y("label:N", sort=order, title=None)
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("value:Q", title="Sobol index"), y=y, yOffset="index:N",
        color=alt.Color("index:N", title=None), tooltip=["label", "index", "value"])
    ci = alt.Chart(data).mark_rule().encode(x="low:Q", x2="high:Q", y=y, yOffset="index:N")
    return (bars + ci).properties(title=f"Sobol indices: {title}", width=420)


def morris_chart(frame: pd.DataFrame, output: str) -> alt.Chart:
    part = frame[frame["output"] == output].assign(
        low=lambda f: f["mu_star"] - f["mu_star_conf"],
        high=lambda f: f["mu_star"] + f["mu_star_conf"])
    order = list(part.sort_values("mu_star", ascending=False)["label"])
    title = OUTPUT_TITLES.get(output, output)
    y = alt.Y("label:N", sort=order, title=None)
    bars = alt.Chart(part).mark_bar().encode(
        x=alt.X("mu_star:Q", title=f"Morris mu* ({title} per range)"), y=y,
        tooltip=["label", "mu_star", "mu_star_conf", "sigma"])
    ci = alt.Chart(part).mark_rule().encode(x="low:Q", x2="high:Q", y=y)
    return (bars + ci).properties(title=f"Morris screening: {title}", width=420)


def study_charts(result: StudyResult) -> dict[str, alt.Chart]:
    """The study's charts by name (one per output the method analysed)."""
    charts: dict[str, alt.Chart] = {}
    draw = {"tornado": tornado_chart, "sobol": sobol_chart, "morris": morris_chart}
    for name, whole in result.analysis.items():
        if name not in draw or whole.empty or "output" not in whole:
            continue
        groups = whole.groupby("tier", sort=False) if "tier" in whole else [("", whole)]
        for tier, frame in groups:
            for output in dict.fromkeys(frame["output"]):
                key = f"{name}_{tier}_{output}" if tier else f"{name}_{output}"
                chart = draw[name](frame, output)
                if tier:
                    chart = chart.properties(title=f"[{tier}] {chart.title}")
                charts[_safe_name(key)] = chart
    return charts


def _safe_name(name: str) -> str:
    """A chart name that is a safe file name and element id."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)


def table_html(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    if frame.empty:
        return "<p>(none)</p>"
    columns = columns or list(frame.columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell(r[c]))}</td>" for c in columns)
                   + "</tr>" for _, r in frame.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; }}
.chart {{ margin: 1.5em 0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }}
</style>
<script>{bundle}</script>
</head><body>
<h1>{title}</h1>
<dl>{facts}</dl>
{sections}
<h2>Charts</h2>
{divs}
<pre id="report-errors"></pre>
<script>
(function () {{
  var specs = {specs};
  var names = Object.keys(specs);
  Promise.all(names.map(function (name) {{
    return vegaEmbed("#chart-" + name, specs[name], {{renderer: "svg", actions: false}});
  }})).then(function () {{
    document.body.setAttribute("data-charts-drawn", String(names.length));
  }}).catch(function (err) {{
    document.getElementById("report-errors").textContent += String(err) + "\\n";
  }});
}})();
</script>
</body></html>
"""


def _sections(result: StudyResult) -> str:
    parts = []
    if "sobol" in result.analysis:
        parts.append("<h2>What decides this answer</h2><p>The three parameters with the "
                     "largest total-order Sobol index for p99 and for cost per request "
                     "(± the 95% CI half-width).</p>")
        parts.append(table_html(result.analysis.get("decides", pd.DataFrame())))
    titles = {"tornado": "One at a time", "sobol": "Sobol indices",
              "morris": "Morris screening", "bands": "Prediction bands over the ensemble",
              "tiers": "Each tier's recommendation under the ensemble",
              "slo": "Probability of meeting the SLOs"}
    for name, frame in result.analysis.items():
        if name != "decides":
            parts.append(f"<h2>{html.escape(titles.get(name, name))}</h2>{table_html(frame)}")
    if result.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>"
                                                    for n in result.notes) + "</ul>")
    return "".join(parts)


def page(result: StudyResult, facts: Mapping[str, Any],
         specs: Mapping[str, dict[str, Any]]) -> str:
    fact_html, divs, bundle = page_parts(facts, specs)
    return PAGE.format(title=html.escape(f"Study: {result.study.spec.name}"), bundle=bundle,
                       facts=fact_html, sections=_sections(result), divs=divs,
                       specs=script_json(json_safe(dict(specs))))


def write_report(result: StudyResult, out: Path) -> list[Path]:
    """report.html and charts/*.png in *out*; the paths written."""
    import vl_convert

    study = result.study
    specs = {name: json_safe(spec) for name, spec in chart_specs(study_charts(result)).items()}
    facts = {"model": study.model.name, "method": study.spec.method,
             "design points": len(result.design),
             "runs": len(result.design) * study.spec.replications,
             "horizon": f"{study.horizon:g}s (warm-up {study.warmup:g}s)",
             "wall time": f"{result.wall_s:.1f}s"}
    facts.update({f"fixed {k}": v for k, v in study.fixed.items()})
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.html"
    report.write_text(page(result, facts, specs), encoding="utf-8")
    written = [report]
    charts = out / "charts"
    charts.mkdir(exist_ok=True)
    for name, spec in specs.items():
        path = charts / f"{name}.png"
        path.write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))
        written.append(path)
    return written


__all__ = ["study_charts", "table_text", "write_report"]


def _by_output(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """*frame*'s rows by output (and by tier, where it has one), each group with its
    label ("p99", or "small p99"), in the frame's order."""
    keys = ["tier", "output"] if "tier" in frame else ["output"]
    for key, part in frame.groupby(keys, sort=False):
        yield " ".join(str(k) for k in key) if isinstance(key, tuple) else key, part


def _ranked(frame: pd.DataFrame, by: str, values: Callable[[pd.Series], str]) -> list[str]:
    """Per output, a heading and its parameters from the largest *by* down, each as
    its label and *values*."""
    lines = []
    for output, part in _by_output(frame):
        lines.append(f"  {output}:")
        lines += [f"    {r['label']:<45} {values(r)}"
                  for _, r in part.sort_values(by, ascending=False).iterrows()]
    return lines


def table_text(result: StudyResult) -> str:
    """The study's main table as terminal text: what decides the answer (Sobol),
    the ranking (Morris, tornado) or the bands and SLO probability (ensemble)."""
    lines = []
    frames = result.analysis
    if "sobol" in frames:
        decides = frames.get("decides", pd.DataFrame())
        lines.append("what decides this answer (total-order Sobol index ± 95% CI):")
        for _, r in decides.iterrows():
            where = f"[{r['tier']}] " if "tier" in r else ""
            lines.append(f"  {where}{r['output']:<6} {r['rank']}. {r['parameter']:<45} "
                         f"ST {r['ST']:.3f} ± {r['ST_conf']:.3f}  S1 {r['S1']:.3f}")
        if decides.empty:
            lines.append("  (no p99 or cost output analysed)")
        lines.append("Sobol indices, first order (S1) and total (ST), ± 95% CI:")
        lines += _ranked(frames["sobol"], "ST",
                         lambda r: f"S1 {r['S1']:6.3f} ± {r['S1_conf']:.3f}  "
                                   f"ST {r['ST']:6.3f} ± {r['ST_conf']:.3f}")
    if "morris" in frames and not frames["morris"].empty:
        lines.append("Morris mu* (per range) ± 95% CI, largest first:")
        lines += _ranked(frames["morris"], "mu_star",
                         lambda r: f"{r['mu_star']:.4g} ± {r['mu_star_conf']:.2g}")
    if "tornado" in frames:
        lines.append("one at a time (output at the low .. high end), largest swing first:")
        for output, part in _by_output(frames["tornado"]):
            lines.append(f"  {output} (base {cell(part['at_base'].iloc[0])}):")
            for _, r in part.iterrows():
                lines.append(f"    {r['label']:<45} {cell(r['at_low'])} .. "
                             f"{cell(r['at_high'])}")
    if "tiers" in frames:
        lines.append("per tier, the recommendation and P(it meets the SLOs at every load) "
                     "over the ensemble (95% CI):")
        for _, r in frames["tiers"].iterrows():
            lines.append(f"  {r['tier']}: {r['config']}  P = {r.get('p_meets_slo', 0):.2f} "
                         f"({r.get('ci95_low', 0):.2f}-{r.get('ci95_high', 1):.2f}, "
                         f"{int(r['members'])} members; sweep: {r['sweep_status']})")
    if "bands" in frames:
        lines.append("prediction bands over the ensemble (2.5% .. 50% .. 97.5%):")
        for _, r in frames["bands"].iterrows():
            where = f"[{r['tier']}] " if "tier" in r else ""
            lines.append(f"  {where}{r['output']:<12} {cell(r['p2_5'])} .. "
                         f"{cell(r['p50'])} .. {cell(r['p97_5'])}")
    if "slo" in frames and not frames["slo"].empty:
        r = frames["slo"].iloc[0]
        lines.append(f"P(meets the SLOs) = {r['probability']:.2f} "
                     f"(95% CI {r['ci95_low']:.2f}-{r['ci95_high']:.2f}, "
                     f"{int(r['meet'])} of {int(r['members'])} members)")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)
