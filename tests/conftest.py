"""Shared fixtures: small model files written on the fly, and the models/ folder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def key_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and list indices) to a node inside the YAML data *node*,
    parents before their children."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += key_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += key_paths(value, (*prefix, index))
    return found


def reported_problems(call: Callable[[], Any]) -> list[tuple[str, str]]:
    """(path, message) of each problem the ConfigError *call* raises (the top level's
    path shown as ``(top level)``); fails the test when it raises none."""
    from tarsim.config import ConfigError

    with pytest.raises(ConfigError) as info:
        call()
    return [(p.path or "(top level)", str(p)) for p in info.value.problems]


def on_two_cores(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """*fn* of each item, in order, on two processes (CI has two cores): for the
    coverage tests, whose instances are independent and each seeded on its own, so
    the results are those of a serial loop."""
    import concurrent.futures as cf

    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(fn, items))


def mmc_data(lam: float, mu: float, c: int, **extra: Any) -> dict[str, Any]:
    """The M/M/c queue in the model format: Poisson(lam), one exponential(1/mu)
    step, one agent with c slots."""
    data: dict[str, Any] = {
        "name": f"mm{c}",
        "workload": {
            "arrivals": {"kind": "poisson", "rate": lam},
            "classes": [{"name": "job", "steps": ["server"]}],
        },
        "agents": {"count": 1, "concurrency": c},
        "roles": {"server": {"work": {"dist": "exponential", "mean": 1.0 / mu}}},
    }
    for key, value in extra.items():
        data[key] = value
    return data


@pytest.fixture
def write_model(tmp_path: Path):
    """Write a model dict (or YAML text) to a file and return its path."""

    def write(data: dict[str, Any] | str, name: str = "model.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write


def traced_model(tmp_path: Path, times: list[float], *, classes: list[str] | None = None,
                 **sections: Any) -> Any:
    """A validated model whose arrivals replay *times* (and *classes*) from a CSV
    trace, with the given sections (``agents``, ``roles``, ...); by default one
    class ``job`` of one step ``server`` that works 1 s."""
    from tarsim.config import model_from_data

    lines = ["t,cls"] + [f"{t},{c}" for t, c in zip(times, classes or ["job"] * len(times),
                                                    strict=True)]
    (tmp_path / "arrivals.csv").write_text("\n".join(lines) + "\n")
    data: dict[str, Any] = {
        "name": "traced",
        "workload": {
            "arrivals": {"kind": "trace", "file": "arrivals.csv", "class_column": "cls"},
            "classes": [{"name": "job", "steps": ["server"]}],
        },
        "agents": {"count": 1},
        "roles": {"server": {"work": 1.0}},
    }
    data.update(sections)
    return model_from_data(data, base_dir=tmp_path)


def agent_log(records: Any) -> list[tuple[float, int, str]]:
    """The agent events of a run as (t, agent, event) tuples."""
    return [(float(t), int(a), str(e)) for t, a, e in records.agents.itertuples(index=False)]


def request_log(records: Any, *columns: str) -> list[tuple[Any, ...]]:
    """Chosen columns of the request rows, in id order."""
    frame = records.requests[list(columns)]
    return [tuple(row) for row in frame.itertuples(index=False)]


# ---------------------------------------------------------------- calibration
Synthetic = Callable[..., dict[str, Any]]


def synthetic(work: float = 0.2, error: float = 0.03, concurrency: int = 4,
              base: float = 2e6, per_agent: float = 1e6, per_request: float = 5e4
              ) -> dict[str, Any]:
    return {
        "name": "synthetic",
        "workload": {"arrivals": {"kind": "closed", "users": 2},
                     "classes": [{"name": "job", "steps": ["worker"]}]},
        "agents": {"count": 1, "concurrency": concurrency},
        "roles": {"worker": {"work": {"dist": "exponential", "mean": work}, "llm": "m"}},
        "llms": {"m": {"provider": "p",
                       "first_token": {"dist": "lognormal", "median": 0.3, "p99": 1.2}}},
        "providers": {"p": {"errors": {"rate": error}}},
        "memory": {"base": base, "per_agent": per_agent, "per_request": per_request},
    }



@pytest.fixture(name="synthetic")
def synthetic_fixture() -> Synthetic:
    """The synthetic model's data, with any parameter changed by keyword."""
    return synthetic


def simulated_baseline(model: Any, levels: Any, settings: Any, *,
                       memory: bool = False) -> Any:
    """A baseline simulated from *model* itself with *settings* (seeds a fit does not
    use) at each (users, agents or None) level: throughput, p99, error rate and, with
    *memory*, peak memory. A baseline the model fits."""
    from tarsim.calibrate.baseline import Baseline, BaselineRow
    from tarsim.calibrate.fit import predict

    shape = Baseline(rows=tuple(BaselineRow(load=n, load_kind="concurrency", throughput=1,
                                            p99=1, agents=a) for n, a in levels))
    measured = predict(model, shape, settings)
    return Baseline(rows=tuple(
        BaselineRow(load=n, load_kind="concurrency", agents=a,
                    throughput=m.simulated["throughput"], p99=m.simulated["p99"],
                    error_rate=m.simulated["error_rate"],
                    memory_mb=m.simulated["memory_mb"] if memory else None)
        for (n, a), m in zip(levels, measured, strict=True)))


def set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of model *data* with the dotted *path* set to *value* (parents made
    as needed): one failing input from a valid base."""
    import copy

    data = copy.deepcopy(data)
    node = data
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return data
