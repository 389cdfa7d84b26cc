"""Helpers for the scenario tests: write a model and a one-scenario file, run it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from tarsim import api
from tarsim.scenarios import ScenarioResult


def write_scenarios(tmp_path: Path, model: dict[str, Any], scenarios: list[dict[str, Any]],
                    defaults: dict[str, Any] | None = None) -> Path:
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    doc: dict[str, Any] = {"model": "model.yaml", "scenarios": scenarios}
    if defaults:
        doc["defaults"] = defaults
    path = tmp_path / "scenarios.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def scenario(analysis: dict[str, Any], *, name: str = "s", overrides: dict[str, Any] | None = None,
             run: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "type": "test", "purpose": "a test", "overrides": overrides or {},
            "run": run or {}, "analysis": analysis}


def run_one(tmp_path: Path, model: dict[str, Any], analysis: dict[str, Any],
            **kwargs: Any) -> ScenarioResult:
    path = write_scenarios(tmp_path, model, [scenario(analysis, **kwargs)])
    return api.scenarios(path)[0]


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c at offered load a (Erlang B, by recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def mm1k_blocking(rho: float, k: int) -> float:
    """Blocking probability of M/M/1/K (K in the system at most)."""
    if math.isclose(rho, 1.0):
        return 1.0 / (k + 1)
    return (1 - rho) * rho**k / (1 - rho ** (k + 1))


def simple(work: Any, *, users: int | None = None, rate: float | None = None,
           count: int = 1, concurrency: int = 1, **sections: Any) -> dict[str, Any]:
    """A one-class, one-role model: closed *users* or Poisson *rate*."""
    arrivals = ({"kind": "closed", "users": users} if users is not None
                else {"kind": "poisson", "rate": rate})
    data: dict[str, Any] = {
        "name": "simple",
        "workload": {"arrivals": arrivals, "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": count, "concurrency": concurrency},
        "roles": {"server": {"work": work}},
    }
    data.update(sections)
    return data
