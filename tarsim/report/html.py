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

TABLE_COLUMNS = [
    ("tier", "tier"), ("status", "status"), ("load", "load"), ("config", "configuration"),
    ("hosts", "hosts"), ("agents_count", "agents"), ("throughput", "throughput (req/s)"),
    ("latency_p99", "p99 (s)"), ("latency_p99_ub", "p99 upper 95%"),
    ("error_rate", "error rate"), ("error_rate_ub", "error rate upper 95%"),
    ("cost_per_request_usd", "$ / request"), ("cost_per_hour_usd", "$ / hour"),
    ("bottleneck", "binding bottleneck"), ("runner_up", "runner-up"),
]


def chart_specs(charts: Mapping[str, alt.Chart]) -> dict[str, dict[str, Any]]:
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


def table_html(recommendations: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in TABLE_COLUMNS)
    rows = []
    for _, rec in recommendations.iterrows():
        cells = "".join(f"<td>{html.escape(cell(rec.get(name)))}</td>"
                        for name, _ in TABLE_COLUMNS)
        rows.append(f"<tr class='{'ok' if rec['status'] == 'ok' else 'miss'}'>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; }}
tr.miss td {{ background: #fde8e8; }}
.chart {{ margin: 1.5em 0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }}
</style>
<script>{bundle}</script>
</head><body>
<h1>{title}</h1>
<dl>{facts}</dl>
<h2>Recommendations</h2>
<p>Per tier, the cheapest configuration whose 95% CI upper bounds meet every SLO at each of
the tier's loads; its metrics at the tier's highest load.</p>
{table}
<h2>Charts</h2>
{divs}
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

    fact_html = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>"
                        for k, v in facts.items())
    divs = "".join(f'<div class="chart" id="chart-{html.escape(name)}"></div>'
                   for name in specs)
    # vl-convert's stub marks the optional snippet as required
    bundle: str = vl_convert.javascript_bundle()  # type: ignore[call-arg]
    return fact_html, divs, bundle.replace("</script", "<\\/script")


def page(title: str, facts: Mapping[str, Any], recommendations: pd.DataFrame,
         specs: Mapping[str, dict[str, Any]]) -> str:
    """The whole report page."""
    fact_html, divs, bundle = page_parts(facts, specs)
    return PAGE.format(title=html.escape(title), bundle=bundle, facts=fact_html,
                       table=table_html(recommendations), divs=divs,
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
                 title: str) -> list[Path]:
    """report.html and charts/*.png in *out*; the paths written."""
    import vl_convert

    specs = chart_specs(sweep_charts(summary, recommendations, limits))
    specs = {name: _finite(spec) for name, spec in specs.items()}
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.html"
    atomic_write_text(report, page(title, facts, recommendations, specs))
    written = [report]
    charts = out / "charts"
    charts.mkdir(exist_ok=True)
    for name, spec in specs.items():
        path = charts / f"{name}.png"
        png: bytes = vl_convert.vegalite_to_png(spec, scale=1.5)
        atomic_write(path, functools.partial(_write_bytes, png), binary=True)
        written.append(path)
    return written
