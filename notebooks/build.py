"""Write the what-if notebooks from the cells below, with no outputs.

The notebooks are generated so that their text lives in one reviewable file and
the repository never holds outputs or execution counts. Run from anywhere:
``python notebooks/build.py``. Each notebook calls only ``tarsim.api``, pandas,
altair and ipywidgets, and computes every number it states from its results.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook from ("md" | "py", source) pairs."""
    made = [new_markdown_cell(text.strip()) if kind == "md" else new_code_cell(text.strip())
            for kind, text in cells]
    nb = new_notebook(cells=made, metadata={"kernelspec": KERNEL,
                                            "language_info": {"name": "python"}})
    return nb


# ---------------------------------------------------------------- tier planning
TIER_PLANNING = [
    ("md", """
# Tier planning: agents, the OpenAI rate limit, warm pools

Three questions a capacity planner asks of the TARS model (`models/tars.yaml`):

1. **How many agents does each tier need** for a p99 below 3 s with under 1% errors?
2. **What does raising the OpenAI rate limit buy** once the `code` class (the only one
   that calls OpenAI) outgrows it?
3. **A warm pool or lazy spawning?** Idle agents cost money; cold starts cost latency.

Every number below is computed from simulations run here, with short horizons so the
notebook runs in well under a minute. For decisions, lengthen `HORIZON_S` and
`REPLICATIONS` (or run `tarsim sweep experiments/tiers.yaml`).
"""),
    ("py", """
import math

import altair as alt
import pandas as pd

from tarsim import api

alt.renderers.enable("svg")  # charts saved as SVG: they show offline, no script from a CDN

MODEL = "../models/tars.yaml"
HORIZON_S = 40          # simulated seconds per run (the first 20% are warm-up)
REPLICATIONS = 3        # independent replications per point: the CIs come from these
SLO = {"p99": "3s", "error_rate": 0.01}

model = api.load_model(MODEL)
"""),
    ("md", """
## 1. Agents needed per tier

The tiers, their loads, their agent counts and the fixed changes the answer depends on
(the experiment's `set:` block: warm agents, retries of 5xx errors as the SDKs do) come
from `experiments/tiers.yaml`, the file `tarsim sweep` runs, so this notebook, the sweep
and `tarsim run --experiment ../experiments/tiers.yaml --tier small` answer the same
question the same way. To keep the notebook short it keeps two tiers, one model mix and
one cache hit rate, and a shorter horizon. A configuration meets the SLOs when the upper
bound of the 95% confidence interval of its p99 and of its error rate are within the
limits at **all** of the tier's rates; the recommendation is the cheapest such one.
"""),
    ("py", """
EXPERIMENT = "../experiments/tiers.yaml"
experiment = api.narrowed_experiment(EXPERIMENT, tiers=["baseline", "small"], changes={
    "horizon": HORIZON_S, "warmup": HORIZON_S * 0.2, "replications": REPLICATIONS,
    "grid": {"routing.mix": [{"haiku": 1.0}], "cache.context.hit_rate": [0.6]},
    "capacity": False,
})
print("fixed changes (set:):", experiment.spec.overrides)
tier_sweep = api.sweep(experiment, executor="serial")
summary = api.summary_with_costs(tier_sweep)
recommendations = tier_sweep.recommendations
print(api.decision_table(tier_sweep))
"""),
    ("md", """
The same point from the command line or from here gives the same numbers: the sweep's
row for the small tier's recommendation, and that point run on its own.
"""),
    ("py", """
number = int(recommendations.set_index("tier").loc["small", "point"])
alone = api.run_point(experiment, "small", number, keep_records=False).summary
swept = summary.set_index("point").loc[number]
print(f"point {number}: p99 {swept['latency_p99']:.3f} s in the sweep, "
      f"{alone['latency']['p99']:.3f} s run alone")
"""),
    ("py", """
charts = api.sweep_charts(tier_sweep)
charts["p99"]
"""),
    ("py", """
def tier_sentence(row: pd.Series) -> str:
    if row["status"] == "ok":
        return (f"{row['tier']}: {int(row['agents_count'])} agents "
                f"(p99 upper bound {row['latency_p99_ub']:.2f} s at {row['load']:g} req/s, "
                f"${row['cost_per_hour_usd']:,.0f}/h)")
    return (f"{row['tier']}: no agent count tried meets the SLOs; the closest, "
            f"{int(row['agents_count'])} agents, reaches a p99 upper bound of "
            f"{row['latency_p99_ub']:.2f} s at {row['load']:g} req/s "
            f"(binding: {row['bottleneck']})")

floor = summary.loc[summary["latency_p99"].idxmin()]
print("Agents needed at p99 < 3 s, errors < 1%:")
for _, row in recommendations.iterrows():
    print(" -", tier_sentence(row))
if (recommendations["status"] != "ok").any():
    print(f"The lowest p99 of any point simulated is {floor['latency_p99']:.2f} s "
          f"({floor['tier']}, {floor['config']}, {floor['load']:g} req/s): a p99 SLO "
          f"below it needs faster LLM and tool calls, not more agents.")
"""),
    ("md", """
### What a looser (or tighter) SLO would need

The sweep's tables are kept, so another SLO is judged without simulating again. Move the
slider; headless, the cell runs once with the default.
"""),
    ("py", """
import ipywidgets as widgets


def agents_for(p99_s: float = 3.0) -> pd.DataFrame:
    table = api.recommend(tier_sweep, {"p99": p99_s, "error_rate": 0.01})
    return table[["tier", "status", "agents_count", "latency_p99_ub", "error_rate_ub"]]


widgets.interact(agents_for, p99_s=widgets.FloatSlider(value=3.0, min=1.0, max=30.0,
                                                        step=0.5, description="p99 (s)"));
"""),
    ("md", """
## 2. Raising the OpenAI rate limit

Only the `code` class calls OpenAI (its validator's `embed` tool), so the provider's
request limit binds once the `code` share of the offered rate exceeds it. Both numbers
are read from the model, not typed here. We offer twice that rate, give the system
enough agents that slots never bind, and try the limit as it is, doubled and
quadrupled. The limit's bucket starts full, so the warm-up is long enough to drain it.
"""),
    ("py", """
openai_limit = model.providers["openai"].limits.requests          # per second
weights = {c.name: c.weight for c in model.workload.classes}
openai_share = sum(w for name, w in weights.items()
                   if any(model.roles[s].tools and "embed" in model.roles[s].tools
                          for s in next(c.steps for c in model.workload.classes
                                        if c.name == name))) / sum(weights.values())
binding_rate = openai_limit / openai_share
offered = 2 * binding_rate
agents = math.ceil(offered * 10 / model.agents.concurrency)   # 10 s in system per request
print(f"OpenAI limit {openai_limit * 3600:,.0f}/h; {openai_share:.0%} of requests call it, "
      f"so it binds above {binding_rate:.1f} req/s; offering {offered:.1f} req/s "
      f"to {agents} agents")
"""),
    ("py", """
limit_experiment = api.experiment({
    "name": "openai_limit", "model": MODEL, "horizon": 180, "warmup": 60,
    "replications": 2, "seed": 1,
    "set": {"agents.warm": None, "agents.count": agents,
            "workload.arrivals": {"kind": "poisson", "rate": offered}},
    "slo": SLO,
    "grid": {"providers.openai.limits.requests": [openai_limit * k for k in (1, 2, 4)]},
})
# every point simulated, screened or not: the question is what raising the limit does
limit_sweep = api.sweep(limit_experiment, executor="serial", screen=False)
limits = limit_sweep.summary.assign(
    limit_per_hour=lambda f: f["providers.openai.limits.requests"] * 3600,
    rate_limited_share=lambda f: f["errors_rate_limited"] / f["arrived"])
limits[["limit_per_hour", "throughput", "latency_p99", "error_rate", "error_rate_ci95",
        "rate_limited_share", "api_retries"]]
"""),
    ("py", """
alt.Chart(limits).mark_bar().encode(
    x=alt.X("limit_per_hour:O", title="OpenAI requests per hour"),
    y=alt.Y("error_rate:Q", title="error rate", axis=alt.Axis(format="%")),
    tooltip=["limit_per_hour", "error_rate", "latency_p99"],
).properties(title=f"Error rate at {offered:.1f} req/s against the OpenAI limit", width=360)
"""),
    ("py", """
now, raised = limits.iloc[0], limits.iloc[-1]
print(f"At {offered:.1f} req/s, raising the OpenAI limit from {now['limit_per_hour']:,.0f}/h "
      f"to {raised['limit_per_hour']:,.0f}/h takes the error rate from "
      f"{now['error_rate']:.2%} (± {now['error_rate_ci95']:.2%}) to "
      f"{raised['error_rate']:.2%} (± {raised['error_rate_ci95']:.2%}) and rate-limited "
      f"failures from {now['rate_limited_share']:.2%} to {raised['rate_limited_share']:.2%} "
      f"of requests; p99 goes from {now['latency_p99']:.2f} s to {raised['latency_p99']:.2f} s.")
"""),
    ("md", """
## 3. A warm pool against lazy spawning

A quiet period, a burst, and quiet again. With a **warm pool** every agent is up from the
start. With **lazy spawning** none is: agents start on demand (paying the model's spawn
latency) and stop after idling for `IDLE_S`. We compare the p99, the wait for a slot and
the agent-seconds paid for.
"""),
    ("py", """
QUIET, BURST, IDLE_S = 2, 20, 20     # req/s, req/s, seconds
pool = 10
arrivals = {"kind": "steps", "steps": [{"at": 0, "rate": QUIET}, {"at": 60, "rate": BURST},
                                       {"at": 120, "rate": QUIET}]}
pool_experiment = api.experiment({
    "name": "warm_pool", "model": MODEL, "horizon": 240, "warmup": 0, "replications": 3,
    "seed": 1, "slo": SLO,
    "set": {"agents.count": pool, "workload.arrivals": arrivals},
    "zip": [{"agents.warm": [pool, 0], "agents.idle_timeout": [None, IDLE_S]}],
})
pool_sweep = api.sweep(pool_experiment, executor="serial")
pools = pool_sweep.summary.assign(
    policy=lambda f: f["agents.warm"].map({pool: "warm pool", 0: "lazy spawning"}))
pools[["policy", "latency_p99", "latency_p99_ci95", "wait_p99", "agents_spawns",
       "agents_agent_seconds"]]
"""),
    ("py", """
melted = pools.melt("policy", ["latency_p99", "wait_p99"], var_name="metric",
                    value_name="seconds")
alt.Chart(melted).mark_bar().encode(
    x=alt.X("policy:N", title=None), y=alt.Y("seconds:Q"), color="policy:N",
    column=alt.Column("metric:N", title=None),
).properties(title="Warm pool against lazy spawning", width=160)
"""),
    ("py", """
warm = pools.set_index("policy").loc["warm pool"]
lazy = pools.set_index("policy").loc["lazy spawning"]
saved = 1 - lazy["agents_agent_seconds"] / warm["agents_agent_seconds"]
print(f"Over a {QUIET} -> {BURST} -> {QUIET} req/s burst, lazy spawning pays for "
      f"{saved:.0%} fewer agent-seconds ({lazy['agents_agent_seconds']:,.0f} against "
      f"{warm['agents_agent_seconds']:,.0f}, {lazy['agents_spawns']:.1f} spawns) and moves "
      f"p99 from {warm['latency_p99']:.2f} s to {lazy['latency_p99']:.2f} s "
      f"(wait for a slot p99 {warm['wait_p99']:.2f} s -> {lazy['wait_p99']:.2f} s).")
"""),
]

# ---------------------------------------------------------------- model mix and cache
MODEL_MIX = [
    ("md", """
# Model mix and caching: what does 85% Haiku save, and at what latency?

A planner choosing which LLMs serve TARS's calls trades cost per request against tail
latency. We simulate three mixes — **all Sonnet**, **all Haiku**, and the seed's
cost-optimised **85% Haiku / 10% Sonnet / 5% Opus** — each with a context cache hitting
0%, 30% and 60% of the time, at one load, and keep the mixes no other mix beats on both
cost and p99: the **Pareto front**.

`models/tars.yaml` has no Opus; its definition (prices, first token, output rate) is
taken from `experiments/tiers.yaml`, so it is stated in one place.
"""),
    ("py", """
import json

import altair as alt
import ipywidgets as widgets
import pandas as pd

from tarsim import api

alt.renderers.enable("svg")  # charts saved as SVG: they show offline, no script from a CDN

MODEL = "../models/tars.yaml"
RATE = 10               # open-loop requests per second
AGENTS = 20             # enough slots that the agents do not bind at RATE
HORIZON_S = 60
REPLICATIONS = 3

opus = api.load_experiment("../experiments/tiers.yaml").spec.overrides["llms.opus"]
MIXES = {
    "all Sonnet": {"sonnet": 1.0},
    "all Haiku": {"haiku": 1.0},
    "85/10/5": {"haiku": 0.85, "sonnet": 0.10, "opus": 0.05},
}
HIT_RATES = [0.0, 0.3, 0.6]
"""),
    ("md", """
## The sweep

Nine points (three mixes by three hit rates), each replicated with common random
numbers: every point sees the same arrivals, so differences between points are the
mix's and the cache's, not noise's.
"""),
    ("py", """
experiment = api.experiment({
    "name": "model_mix_and_cache", "model": MODEL, "horizon": HORIZON_S,
    "warmup": HORIZON_S * 0.2, "replications": REPLICATIONS, "seed": 1,
    "set": {"llms.opus": opus, "agents.count": AGENTS, "agents.warm": None,
            "workload.arrivals": {"kind": "poisson", "rate": RATE}},
    "slo": {"p99": "3s", "error_rate": 0.01},
    "grid": {"routing.mix": list(MIXES.values()), "cache.context.hit_rate": HIT_RATES},
})
result = api.sweep(experiment, executor="serial")
# the summary shows each mix as JSON text: name it back
names = {str(sorted(mix.items())): name for name, mix in MIXES.items()}
points = api.summary_with_costs(result).assign(
    mix=lambda f: f["routing.mix"].map(lambda m: names[str(sorted(json.loads(m).items()))]),
    hit_rate=lambda f: f["cache.context.hit_rate"],
)
points["pareto"] = api.pareto_front(points, "total_per_request_usd", "latency_p99")
table = points[["mix", "hit_rate", "total_per_request_usd", "cost_per_request_usd_ci95",
                "latency_p99", "latency_p99_ci95", "error_rate", "pareto"]]
table.sort_values(["mix", "hit_rate"])
"""),
    ("md", """
## Cost against p99

Each point is one mix at one hit rate; the line joins the Pareto front. Below and to the
left is better.
"""),
    ("py", """
scatter = alt.Chart(points).mark_point(size=80, filled=True).encode(
    x=alt.X("latency_p99:Q", title="p99 latency (s)", scale=alt.Scale(zero=False)),
    y=alt.Y("total_per_request_usd:Q", title="cost per request (USD)"),
    color=alt.Color("mix:N", title="model mix"),
    shape=alt.Shape("hit_rate:O", title="cache hit rate"),
    tooltip=["mix", "hit_rate", alt.Tooltip("latency_p99:Q", format=".2f"),
             alt.Tooltip("total_per_request_usd:Q", format=".5f")],
)
front = alt.Chart(points[points["pareto"]]).mark_line(color="black").encode(
    x="latency_p99:Q", y="total_per_request_usd:Q", order="latency_p99:Q")
(scatter + front).properties(title=f"Cost per request against p99 at {RATE} req/s",
                             width=460, height=300)
"""),
    ("py", """
def point(mix: str, hit_rate: float) -> pd.Series:
    return points[(points["mix"] == mix) & (points["hit_rate"] == hit_rate)].iloc[0]


sonnet, haiku, mixed = (point(m, 0.0) for m in MIXES)
best = points.loc[points["total_per_request_usd"].idxmin()]
fastest = points.loc[points["latency_p99"].idxmin()]
front_names = ", ".join(f"{r.mix} at {r.hit_rate:.0%} hits"
                        for r in points[points["pareto"]].sort_values("latency_p99")
                        .itertuples())
print(f"Without a cache, the 85/10/5 mix costs ${mixed['total_per_request_usd']:.5f} a "
      f"request against ${sonnet['total_per_request_usd']:.5f} for all Sonnet "
      f"({1 - mixed['total_per_request_usd'] / sonnet['total_per_request_usd']:.0%} less) "
      f"and ${haiku['total_per_request_usd']:.5f} for all Haiku; its p99 is "
      f"{mixed['latency_p99']:.2f} s against {sonnet['latency_p99']:.2f} s and "
      f"{haiku['latency_p99']:.2f} s.")
print(f"The cheapest point is {best['mix']} at {best['hit_rate']:.0%} hits "
      f"(${best['total_per_request_usd']:.5f}); the fastest {fastest['mix']} at "
      f"{fastest['hit_rate']:.0%} hits (p99 {fastest['latency_p99']:.2f} s). "
      f"Pareto front, fastest first: {front_names}.")
"""),
    ("md", """
## Savings from the cache, mix by mix

How much a given hit rate saves against no cache. The slider picks the hit rate; run
headless it shows the default.
"""),
    ("py", """
def cache_savings(hit_rate: float = 0.3) -> pd.DataFrame:
    rows = []
    for mix in MIXES:
        off, on = point(mix, 0.0), point(mix, hit_rate)
        rows.append({"mix": mix, "cost without cache": off["total_per_request_usd"],
                     f"cost at {hit_rate:.0%} hits": on["total_per_request_usd"],
                     "saved": 1 - on["total_per_request_usd"] / off["total_per_request_usd"],
                     "p99 change (s)": on["latency_p99"] - off["latency_p99"]})
    return pd.DataFrame(rows)


widgets.interact(cache_savings, hit_rate=widgets.SelectionSlider(
    options=HIT_RATES[1:], value=HIT_RATES[1], description="hit rate"));
"""),
]

# ---------------------------------------------------------------- calibration
CALIBRATION = [
    ("md", """
# Calibration on a real load test

Before trusting any what-if, a planner checks the model against a load test. This notebook
walks from the files a load tool writes to a prediction of loads the fit never saw.

The system is a small agent service (`tests/data/loadtest_server.py`, `GET /agent`): 8
worker slots, two LLM calls per request, each through a rate-limited upstream that answers
429 with a retry-after, which the client honours for up to 3 attempts. Locust measured it
at 1, 2, 4, 6, 8, 12 and 16 users, 60 s each (`tests/data/record_agent.sh`); each run left
its `uN_stats.csv`, `uN_stats_history.csv`, `uN_failures.csv` and a raw per-request file
`uN_requests.csv` in `tests/data/agent/`. The model, `tests/data/agent/model.yaml`, is what
its owner knows (slots, calls, retries, the bucket of 5 requests) plus guesses for the rest.
"""),
    ("py", """
import altair as alt
import pandas as pd

from tarsim import api

alt.renderers.enable("svg")  # charts saved as SVG: they show offline, no script from a CDN

AGENT = "../tests/data/agent"
MODEL = f"{AGENT}/model.yaml"
FIT_ON = [2, 8, 16]                     # users of the runs the fit sees
everything = api.read_baseline(f"{AGENT}/u*_stats.csv")
everything.frame()
"""),
    ("md", """
Each run is one row: the user count comes from the history's `User Count` column, and
because the raw per-request file is there, throughput, errors and the p99 are those of the
steady part of the run, with the p99 the exact quantile of the *successful* requests
(`p99_of`). Without the raw file the row would carry Locust's p99 of all requests,
failures included, and the fit would compare it with the simulated p99 of all requests.

## The fit, with the defaults

`api.calibrate` checks the baseline first (the rate-limit check counts only the calls the
successful requests must have had admitted), chooses what to fit from those findings, and
fits: a global scan, then least squares from its best points.
"""),
    ("py", """
baseline = api.read_baseline([f"{AGENT}/u{n}_stats.csv" for n in FIT_ON])
calibration = api.calibrate(MODEL, baseline, leave_one_out=False)
found = api.findings(calibration)
with pd.option_context("display.max_colwidth", 200):
    display(found[["kind", "severity", "message"]])
fit = calibration.as_dict()
pd.DataFrame(fit["fit_set"])
"""),
    ("py", """
parameters = pd.DataFrame([{"path": p["path"], "start": p["start"], "fitted": p["value"],
                            "ci95 low": p["ci95"][0], "ci95 high": p["ci95"][1],
                            "identified": p["identified"]}
                           for p in fit["parameters"]])
print("\\n".join(fit["warnings"]) or "no warnings")
parameters
"""),
    ("md", """
## Predicting the loads the fit did not see

The calibrated model, run unchanged, against every run (what
`tarsim calibrate tests/data/agent/calibrated.yaml --baseline 'tests/data/agent/u*_stats.csv' --iterations 0`
prints). Throughput and p99 errors are relative, error-rate errors in percentage points.
"""),
    ("py", """
check = api.calibrate(calibration.result.model, everything, leave_one_out=False,
                      max_iterations=0)
comparison = api.measured_against_simulated(check)
comparison["seen by the fit"] = comparison["load"].isin(FIT_ON)
base = alt.Chart(comparison).encode(x=alt.X("load:Q", title="users"))
measured = base.mark_point(shape="diamond", size=70, color="black", filled=True).encode(
    y=alt.Y("measured:Q", title=None))
simulated = base.mark_line(point=True).encode(y="simulated:Q")
(measured + simulated).properties(width=220, height=160).facet(
    facet=alt.Facet("metric:N", title=None), columns=3
).resolve_scale(y="independent").properties(
    title="Measured (black) against the model fitted on 2, 8 and 16 users (blue)")
"""),
    ("py", """
unseen = comparison[~comparison["seen by the fit"]]
table = unseen.pivot(index="load", columns="metric", values="error")
print("Prediction error on the loads the fit did not see:")
for load, row in table.iterrows():
    print(f"  {load:g} users: throughput {row['throughput']:+.1%}, p99 {row['p99']:+.1%}, "
          f"errors {row['error_rate']:+.1f} points")
"""),
]


# ---------------------------------------------------------------- what decides the answer
WHAT_DECIDES = [
    ("md", """
# What decides the answer: sensitivity and uncertainty

The small tier's recommendation (all Haiku, a 60 % context cache, 5 agents at 50 req/s)
rests on numbers `models/tars.yaml` marks `[assumption]`. Which of them decide it?

1. **One at a time** (a tornado): each number at the low and high end of its range.
2. **Sobol indices**: how much of each output's variance each number explains, alone
   (S1) and with its interactions (ST), with 95% CIs.
3. **An ensemble**: with the uncertain numbers drawn from distributions, the
   probability that the recommendation still meets the SLOs.

The study is `experiments/tars_small.study.yaml`; here it runs on small settings (short
runs, a small Sobol sample) so the notebook finishes in about a minute. For decisions,
run `tarsim sensitivity experiments/tars_small.study.yaml` (N = 128, README).
"""),
    ("py", """
import altair as alt
import pandas as pd

from tarsim import api

alt.renderers.enable("svg")  # charts saved as SVG: they show offline, no script from a CDN

STUDY = "../experiments/tars_small.study.yaml"
SMALL = {"horizon": "20s", "warmup": "4s"}   # short runs: noisy, but the ranking shows
SOBOL_N = 8                                  # N x (parameters + 2) runs

tornado = api.sensitivity(api.load_study(STUDY, {**SMALL, "method": "oat"}),
                          executor="serial")
tornado.analysis["tornado"].query("output == 'p99'")[
    ["label", "low_value", "high_value", "at_low", "at_high", "swing"]]
"""),
    ("py", """
api.study_charts(tornado)["tornado_p99"]
"""),
    ("md", """
## Sobol indices

Every design point runs on the same random numbers (common random numbers), so the
differences between points are the parameters', not the noise's. With N = 8 the CIs are
wide; the ordering of the top parameters is what to read here.
"""),
    ("py", """
sobol = api.sensitivity(api.load_study(STUDY, {**SMALL, "samples": SOBOL_N}),
                        executor="serial")
decides = sobol.analysis["decides"]   # per output, the top three by total-order index
decides
"""),
    ("py", """
charts = api.study_charts(sobol)
alt.vconcat(charts["sobol_p99"], charts["sobol_cost"])
"""),
    ("md", """
## The recommendation under uncertainty

Draw the two numbers the indices point at from distributions a planner would defend
(the Writer's output tokens around the calibrated 40, the search cache's hit rate around
the assumed 30 %) and count how often the small tier's recommendation still meets the
p99 and error-rate SLOs.
"""),
    ("py", """
ensemble = api.load_study(STUDY, {
    **SMALL, "method": "ensemble", "samples": 16,
    "parameters": {
        "roles.writer.output_tokens.mean": {"distribution": "normal", "mean": 40, "sd": 40,
                                            "low": 10},
        "cache.tools.search.hit_rate": {"distribution": "normal", "mean": 0.3, "sd": 0.1,
                                        "low": 0.0, "high": 0.9},
    },
})
members = api.sensitivity(ensemble, executor="serial")
members.analysis["bands"]
"""),
    ("py", """
p99_top = decides.query("output == 'p99'").iloc[0]
cost_top = decides.query("output == 'cost'").iloc[0]
slo = members.analysis["slo"].iloc[0]
print(f"The small tier's p99 is decided by {p99_top.parameter} (ST {p99_top.ST:.2f} "
      f"± {p99_top.ST_conf:.2f}) and its cost by {cost_top.parameter} (ST {cost_top.ST:.2f}); "
      f"with those uncertain, the recommendation meets the SLOs with probability "
      f"{slo.probability:.2f} (95% CI {slo.ci95_low:.2f}-{slo.ci95_high:.2f}, "
      f"{int(slo.members)} members).")
"""),
]

NOTEBOOKS = {
    "tier_planning.ipynb": TIER_PLANNING,
    "model_mix_and_cache.ipynb": MODEL_MIX,
    "calibration.ipynb": CALIBRATION,
    "what_decides_the_answer.ipynb": WHAT_DECIDES,
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nbformat.write(notebook(cells), HERE / name)


if __name__ == "__main__":
    main()
