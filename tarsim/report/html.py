"""The sweep report: one self-contained HTML page (the Vega, Vega-Lite and
Vega-Embed JavaScript inlined through vl-convert, no network needed) and the
same charts as PNG files.

Everything that comes from a YAML file (tier names, axis values, the experiment's
name) is escaped: HTML text through :func:`html.escape`, chart specs as JSON in
which ``<``, ``>`` and ``&`` are written as ``\\u003c`` and so on, so that no
name can close the script element or inject markup.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from tarsim.config.outputs import atomic_write, atomic_write_text
from tarsim.report.charts import sweep_charts
from tarsim.report.decision import (
    SLO_NAMES,
    TierDecision,
    decide,
    load_text,
    money,
    slo_text,
    slo_value,
)


def chart_specs(charts: Mapping[str, alt.TopLevelMixin]) -> dict[str, dict[str, Any]]:
    """Vega-Lite specs with their data inline, however many rows."""
    with alt.data_transformers.enable("default", max_rows=None):
        return {name: chart.to_dict() for name, chart in charts.items()}


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(value, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def cell(value: Any) -> str:
    """A table cell: 4 significant digits, "-" for a missing number, "∞" for infinity."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return f"{value:.4g}"
    return str(value)


def _e(text: Any) -> str:
    return html.escape(str(text))


def summary_html(decisions: list[TierDecision], limits: Mapping[str, float]) -> str:
    """A paragraph per tier: the verdict and what it rests on, in words."""
    parts = []
    for d in decisions:
        verdict = "meets the SLOs" if d.meets else "misses the SLOs"
        config = d.label + (f", {d.plans}" if d.plans else "")
        text = (f"<p class='{'ok' if d.meets else 'miss'}'><strong>{_e(d.tier)}</strong> "
                f"({_e(load_text(d.load_kind, d.load))}): {_e(verdict)} with "
                f"<em>{_e(config)}</em>, at {_e(money(d.cost_per_hour))} an hour "
                f"({_e(money(d.cost_per_month))} a month). {_e(d.verdict.capitalize())}. "
                f"Binding: {_e(d.binding)}.")
        if d.lift:
            text += f" What the grid suggests: {_e(d.lift)}."
        text += "</p>"
        if d.warnings:
            text += "<ul class='warn'>" + "".join(f"<li>{_e(w)}</li>" for w in d.warnings) \
                + "</ul>"
        parts.append(text)
    return "".join(parts)


def table_html(decisions: list[TierDecision], limits: Mapping[str, float],
               recommendations: pd.DataFrame) -> str:
    """The decision table; it wraps within the page (details stay in the CSV)."""
    slo_heads = "".join(f"<th>{_e(SLO_NAMES.get(p, p))}*</th>" for p in limits)
    head = (f"<tr><th>tier</th><th>verdict</th><th>load</th><th>configuration</th>{slo_heads}"
            "<th>$/hour</th><th>$/month</th><th>capacity</th><th>binding</th></tr>")
    capacities = dict(zip(recommendations["tier"].astype(str),
                          recommendations.get("capacity", pd.Series(math.nan,
                                                                    index=recommendations.index)),
                          strict=True))
    rows = []
    for d in decisions:
        bounds = "".join(f"<td class='num'>{_e(slo_value(p, d.bounds.get(p, math.nan)))}</td>"
                         for p in limits)
        capacity = float(capacities.get(d.tier, math.nan))
        rows.append(
            f"<tr class='{'ok' if d.meets else 'miss'}'><td>{_e(d.tier)}</td>"
            f"<td class='name'>{'meets' if d.meets else 'misses'}</td>"
            f"<td class='num'>{_e(load_text(d.load_kind, d.load))}</td>"
            f"<td class='config'>{_e(d.label)}"
            f"{'<br><small>' + _e(d.plans) + '</small>' if d.plans else ''}</td>"
            f"{bounds}<td class='num'>{_e(money(d.cost_per_hour))}</td>"
            f"<td class='num'>{_e(money(d.cost_per_month))}</td>"
            f"<td class='num'>{_e(load_text(d.load_kind, capacity))}</td>"
            f"<td class='binding'>{_e(d.binding)}</td></tr>")
    return (f"<div class='table-wrap'><table><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            "<p><small>* the upper end of the 95% confidence interval, which the verdict "
            "uses; capacity: the highest load found to meet the SLOs; a month is 730 "
            "hours.</small></p>")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; padding: 1em 2em; color: #222;
       max-width: 1200px; box-sizing: border-box; }}
.table-wrap {{ max-width: 100%; overflow-x: auto; }}
table {{ border-collapse: collapse; font-size: 0.85em; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }}
td.name {{ white-space: nowrap; }}
td.config {{ min-width: 8em; }}
td.binding {{ min-width: 9em; }}
td.num {{ text-align: right; white-space: nowrap; }}
tr.miss td {{ background: #fde8e8; }}
p.miss {{ border-left: 4px solid #d62728; padding-left: 0.6em; }}
p.ok {{ border-left: 4px solid #2ca02c; padding-left: 0.6em; }}
ul.warn {{ margin-top: -0.6em; color: #8a5a00; font-size: 0.9em; }}
.chart {{ margin: 1.5em 0; max-width: 100%; overflow-x: auto; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }}
dd {{ margin: 0; overflow-wrap: anywhere; }}
</style>
<script>{bundle}</script>
</head><body>
<h1>{title}</h1>
<div id="summary">
<h2>Summary</h2>
<p>Per tier, the cheapest configuration whose 95% confidence-interval upper bounds meet
{slos} at every one of the tier's loads; numbers at the tier's highest load.</p>
{paragraphs}
{table}
</div>
<h2>Charts</h2>
{divs}
<h2>Run</h2>
<dl>{facts}</dl>
<pre id="report-errors"></pre>
<script>
(function () {{
  var specs = {specs};
  var errors = document.getElementById("report-errors");
  window.addEventListener("error", function (e) {{ errors.textContent += e.message + "\\n"; }});
  var names = Object.keys(specs);
  Promise.all(names.map(function (name) {{
    return vegaEmbed("#chart-" + name, specs[name], {{renderer: "svg", actions: false}});
  }})).then(function () {{
    // what is wider than the page (the test at 1000 px wants none of the summary)
    var wide = [];
    document.querySelectorAll("#summary, #summary .table-wrap, .chart").forEach(function (el) {{
      if (el.scrollWidth > el.clientWidth + 1) {{ wide.push(el.id || el.className); }}
    }});
    if (document.documentElement.scrollWidth > window.innerWidth + 1) {{ wide.push("page"); }}
    document.body.setAttribute("data-overflow", wide.join(","));
    document.body.setAttribute("data-charts-drawn", String(names.length));
  }}).catch(function (err) {{
    errors.textContent += String(err) + "\\n";
    console.error(err);
  }});
}})();
</script>
</body></html>
"""


def page_parts(facts: Mapping[str, Any], specs: Mapping[str, Any]) -> tuple[str, str, str]:
    """A report page's facts (``<dt>``/``<dd>``), one chart ``<div>`` per spec, and the
    JavaScript bundle made safe inside a ``<script>`` element."""
    import vl_convert

    fact_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items())
    divs = "".join(f'<div class="chart" id="chart-{_e(name)}"></div>' for name in specs)
    # vl-convert's stub marks the optional snippet as required
    bundle: str = vl_convert.javascript_bundle()  # type: ignore[call-arg]
    return fact_html, divs, bundle.replace("</script", "<\\/script")


def page(title: str, facts: Mapping[str, Any], decisions: list[TierDecision],
         limits: Mapping[str, float], specs: Mapping[str, dict[str, Any]],
         recommendations: pd.DataFrame | None = None) -> str:
    """The whole report page."""
    fact_html, divs, bundle = page_parts(facts, specs)
    recs = recommendations if recommendations is not None else pd.DataFrame(
        {"tier": [d.tier for d in decisions]})
    return PAGE.format(title=_e(title), bundle=bundle, facts=fact_html,
                       slos=_e(slo_text(limits)), paragraphs=summary_html(decisions, limits),
                       table=table_html(decisions, limits, recs), divs=divs,
                       specs=script_json(_finite(dict(specs))))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _write_bytes(data: bytes, out: Any) -> None:
    out.write(data)


def write_report(out: Path, summary: pd.DataFrame, recommendations: pd.DataFrame,
                 limits: Mapping[str, float], facts: Mapping[str, Any],
                 title: str, calibrated_up_to: float | None = None) -> list[Path]:
    """report.html and charts/*.png in *out*; the paths written."""
    import vl_convert

    specs = chart_specs(sweep_charts(summary, recommendations, limits))
    specs = {name: _finite(spec) for name, spec in specs.items()}
    decisions = decide(summary, recommendations, limits, calibrated_up_to=calibrated_up_to)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.html"
    atomic_write_text(report, page(title, facts, decisions, limits, specs, recommendations))
    written = [report]
    charts = out / "charts"
    charts.mkdir(exist_ok=True)
    for name, spec in specs.items():
        path = charts / f"{name}.png"
        png: bytes = vl_convert.vegalite_to_png(spec, scale=1.5)
        atomic_write(path, functools.partial(_write_bytes, png), binary=True)
        written.append(path)
    return written
