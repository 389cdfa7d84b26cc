"""Run a plan: simulate every variant of every scenario for its replications, hand
the runs to the scenario's analysis, and collect one result per scenario.

Replication r of every variant of a scenario uses streams keyed by (seed, r), so
variants compare on common random numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tarsim.executors import SERIAL, Runner, RunTask, make_executor, record_run, replicate
from tarsim.metrics import aggregate, summarize
from tarsim.scenarios.registry import Runs
from tarsim.scenarios.spec import Plan, PlannedScenario


@dataclass(frozen=True)
class ScenarioResult:
    """One row of the scenario table, and the numbers behind its key result."""

    name: str
    type: str
    purpose: str
    analysis: str
    key: str
    values: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    """Requests simulated for this scenario, over all variants and replications."""


def run_scenario(planned: PlannedScenario, runner: Runner | None = None) -> ScenarioResult:
    """Simulate every variant of *planned* for its replications on *runner* (all
    submitted at once; serial when None) and analyse them."""
    s = planned.settings
    tasks = [RunTask.of(label, r, model, s.duration, s.warmup, s.seed)
             for label, model in planned.models.items() for r in range(s.replications)]
    if runner is None:
        with make_executor(SERIAL, run=record_run) as serial:
            results = replicate(serial, tasks)
    else:
        results = replicate(runner, tasks)
    runs = {}
    requests = 0
    for v, label in enumerate(planned.models):
        records = results[v * s.replications:(v + 1) * s.replications]
        summaries = [summarize(rec) for rec in records]
        requests += sum(len(rec.request_columns["id"]) for rec in records)
        runs[label] = Runs(records, summaries, aggregate(summaries))
    finding = planned.analysis.analyse(runs)
    spec = planned.spec
    return ScenarioResult(
        name=spec.name, type=spec.type, purpose=spec.purpose, analysis=planned.analysis.kind,
        key=finding.key, values=finding.values,
        settings={"duration_s": s.duration, "warmup_s": s.warmup,
                  "replications": s.replications, "seed": s.seed,
                  "variants": list(planned.models)},
        requests=requests)


def run_plan(plan: Plan, only: Iterable[str] = (), runner: Runner | None = None
             ) -> list[ScenarioResult]:
    """Every scenario of *plan* (or those named in *only*), in the file's order, on
    *runner* (its run function must return records: :func:`record_run`)."""
    return [run_scenario(planned, runner) for planned in plan.only(only).scenarios]
