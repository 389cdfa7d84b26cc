"""Run a plan: simulate every variant of every scenario for its replications, hand
the runs to the scenario's analysis, and collect one result per scenario.

Replication r of every variant of a scenario uses streams keyed by (seed, r), so
variants compare on common random numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tarsim.metrics import aggregate, summarize
from tarsim.run import simulate
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


def run_scenario(planned: PlannedScenario) -> ScenarioResult:
    s = planned.settings
    runs = {}
    requests = 0
    for label, model in planned.models.items():
        records = [simulate(model, duration=s.duration, warmup=s.warmup, seed=s.seed,
                            replication=r) for r in range(s.replications)]
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


def run_plan(plan: Plan, only: Iterable[str] = ()) -> list[ScenarioResult]:
    """Every scenario of *plan* (or those named in *only*), in the file's order."""
    return [run_scenario(planned) for planned in plan.only(only).scenarios]
