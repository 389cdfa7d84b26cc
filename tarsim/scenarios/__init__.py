"""Load-test scenarios as simulations: a scenario file names a model, overrides it
per scenario, and asks each scenario's question through an analysis looked up by
name (the degradation point of a ramp, a leak's slope, a cache's speed-up, ...)."""

from tarsim.scenarios.registry import ANALYSES, Analysis, Finding, Runs
from tarsim.scenarios.runner import ScenarioResult, run_plan, run_scenario
from tarsim.scenarios.spec import Plan, ScenarioFile, load_plan

__all__ = [
    "ANALYSES",
    "Analysis",
    "Finding",
    "Plan",
    "Runs",
    "ScenarioFile",
    "ScenarioResult",
    "load_plan",
    "run_plan",
    "run_scenario",
]
