"""A sweep: every point of an experiment times its replications, run on an executor,
each result stored the moment it arrives, then the tables built from the store.

Run (point, r) is simulated with the experiment's seed and replication index r,
so every point sees the same random numbers (common random numbers) and any
executor gives the same results. The tables are built from the store sorted by
point and replication, never in completion order, so they are identical however
the runs were scheduled, interrupted and resumed.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from tarsim.config import ConfigError, Model, Problem
from tarsim.metrics import json_safe
from tarsim.sweep.executors import Executor, RunTask, SerialExecutor
from tarsim.sweep.loader import Experiment
from tarsim.sweep.points import RATE, USERS, Point, point_key, show_value
from tarsim.sweep.recommend import recommend, total_costs
from tarsim.sweep.stats import aggregate, flat_row, replications_needed
from tarsim.sweep.store import RUNS_FILE, RunStore

Progress = Callable[[int, int], None]
"""Called with (runs done, runs known to be needed) after each run."""


@dataclass
class SweepResult:
    """The tables of a sweep (see the module docstring of :mod:`tarsim.sweep`)."""

    experiment: Experiment
    runs: pd.DataFrame
    summary: pd.DataFrame
    recommendations: pd.DataFrame
    executed: int = 0
    """Runs simulated by this call (the rest came from the store)."""
    reused: int = 0
    repaired: int = 0
    """Damaged lines found in the store and re-run."""
    wall_s: float = 0.0
    files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------- running
def run_sweep(
    experiment: Experiment,
    executor: Executor | None = None,
    *,
    out: Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> SweepResult:
    """Run every missing (point, replication) of *experiment* and build its tables.

    With *out*, each finished run is appended to ``out/runs.jsonl`` at once; with
    *resume*, the runs already there (checked line by line) are kept and only the
    missing ones are run. Without *resume*, an *out* that already holds runs is an
    error, so that no results are overwritten by accident."""
    started = time.perf_counter()
    spec = experiment.spec
    store = _open_store(out, resume)
    executor = executor or SerialExecutor()
    by_key: dict[str, Point] = {}
    for point in experiment.points:
        by_key.setdefault(point.key, point)
    submitted: set[tuple[str, int]] = set()
    executed = 0
    reused = sum(1 for k, _ in store.runs if k in by_key)

    def runs_of(key: str) -> dict[int, dict[str, Any]]:
        return {r: m for (k, r), m in store.runs.items() if k == key}

    def submit_missing(point: Point) -> None:
        have = runs_of(point.key)
        needed, _final = replications_needed(
            {r: flat_row(m) for r, m in have.items()}, spec.replications)
        for r in range(needed):
            if r not in have and (point.key, r) not in submitted:
                submitted.add((point.key, r))
                executor.submit(RunTask.of(point.key, r, point.model, spec.horizon,
                                           spec.warmup_s, spec.seed))

    try:
        for point in by_key.values():
            submit_missing(point)
        total = len(submitted)
        while executor.pending():
            task, metrics = executor.next_done()
            store.add(task.key, task.replication, metrics)
            executed += 1
            submit_missing(by_key[task.key])
            total = len(submitted)
            if progress is not None:
                progress(executed, total)
    finally:
        executor.close()
    runs, summary = tables(experiment, store)
    summary = total_costs(summary, spec.costs.agent_per_hour_usd)
    recommendations = recommend(summary, experiment.slo.limits(),
                                spec.costs.agent_per_hour_usd)
    if spec.capacity:
        recommendations = with_capacity(experiment, recommendations)
    result = SweepResult(
        experiment, runs, summary, recommendations,
        executed=executed, reused=reused, repaired=store.repaired,
        wall_s=time.perf_counter() - started,
    )
    return result


def with_capacity(experiment: Experiment, recommendations: pd.DataFrame) -> pd.DataFrame:
    """The recommendations with the capacity of each tier's recommended configuration:
    ``capacity`` (the highest load found to meet the SLOs) and ``capacity_failed_at``
    (the lowest found not to), searched from the tier's highest load. Tiers with no
    configuration meeting the SLOs get NaN."""
    from tarsim.sweep.capacity import search

    spec = experiment.spec
    reps = spec.replications
    replications = max(2, reps if isinstance(reps, int) else reps.min)
    found, failed = [], []
    for _, row in recommendations.iterrows():
        if row["status"] != "ok":
            found.append(math.nan)
            failed.append(math.nan)
            continue
        point = experiment.points[int(row["point"])]
        result = search(point.model, experiment.slo.limits(), duration=spec.horizon,
                        warmup=spec.warmup_s, seed=spec.seed, replications=replications,
                        start=float(row["load"]))
        found.append(result.load)
        failed.append(result.failed_at)
    return recommendations.assign(capacity=found, capacity_failed_at=failed)


class _MemoryStore(RunStore):
    def add(self, key: str, replication: int, metrics: dict[str, Any]) -> None:
        self.runs[(key, replication)] = metrics


def _open_store(out: Path | None, resume: bool) -> RunStore:
    if out is None:
        return _MemoryStore(Path(RUNS_FILE))
    if out.exists() and not out.is_dir():
        raise ConfigError([Problem("--out", "is a file, not a folder", str(out))])
    existing = out / RUNS_FILE
    if not resume and existing.exists() and existing.stat().st_size > 0:
        raise ConfigError([Problem(
            "--out", "already holds the runs of a sweep: add --resume to continue them, "
            "or choose another folder", str(out))])
    return RunStore.open(out, fresh=not resume)


# ---------------------------------------------------------------- tables
def _axis_columns(points: Sequence[Point]) -> dict[str, list[Any]]:
    """Each axis as a column: numbers stay numbers; anything else is shown as text."""
    axes: list[str] = []
    for point in points:
        axes += [a for a, _ in point.params if a not in axes]
    columns = {}
    for axis in axes:
        values = [dict(p.params).get(axis) for p in points]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        columns[axis] = values if numeric else [show_value(v) for v in values]
    return columns


def _point_columns(points: Sequence[Point]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "point": [p.index for p in points],
        "tier": [p.tier for p in points],
        "load_kind": [p.load_kind for p in points],
        "load": [p.load for p in points],
        "config": [p.config for p in points],
        **_axis_columns(points),
        "agents_count": [p.model.agents.count for p in points],
        "slots": [p.model.agents.count * p.model.agents.concurrency for p in points],
        "key": [p.key for p in points],
    })
    return frame


def tables(experiment: Experiment, store: RunStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, summary) from the stored runs of *experiment*'s points: one row per
    point and replication; one row per point with each metric's mean and CI."""
    points = experiment.points
    base = _point_columns(points)
    run_rows, summary_rows, missing = [], [], []
    for i, point in enumerate(points):
        have = {r: flat_row(m) for (k, r), m in store.runs.items() if k == point.key}
        n, final = replications_needed(have, experiment.spec.replications)
        if not final or any(r not in have for r in range(n)):
            missing.append(point.label)
            continue
        chosen = [have[r] for r in range(n)]
        for r, row in enumerate(chosen):
            run_rows.append({"_row": i, "replication": r, **row})
        summary_rows.append({"_row": i, "replications": n, **aggregate(chosen)})
    if missing:
        raise RuntimeError(f"runs missing for {len(missing)} points, e.g. {missing[0]}")
    index = base.reset_index(drop=True)
    runs = index.merge(pd.DataFrame(run_rows), left_index=True, right_on="_row")
    summary = index.merge(pd.DataFrame(summary_rows), left_index=True, right_on="_row")
    return (runs.drop(columns="_row").reset_index(drop=True),
            summary.drop(columns="_row").reset_index(drop=True))


# ---------------------------------------------------------------- files
def versions() -> dict[str, str]:
    names = ["tarsim", "simpy", "numpy", "scipy", "pandas", "pydantic", "pyarrow", "altair",
             "vl-convert-python", "distributed"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def model_hash(model: Model) -> str:
    return point_key(model, 0.0, 0.0, 0)


def manifest(result: SweepResult, command: Sequence[str] | None = None) -> dict[str, Any]:
    exp = result.experiment
    spec = exp.spec
    replications = (spec.replications if isinstance(spec.replications, int)
                    else spec.replications.model_dump())
    return {
        "experiment": spec.name,
        "experiment_file": exp.source,
        "experiment_hash": model_hash(exp.model) + ":" + _spec_hash(spec),
        "model": exp.model.name,
        "model_file": str(exp.model_file),
        "model_hash": model_hash(exp.model),
        "seed": spec.seed,
        "horizon_s": spec.horizon,
        "warmup_s": spec.warmup_s,
        "replications": replications,
        "slo": {k: v for k, v in spec.model_dump().get("slo", {}).items() if v is not None}
        if spec.slo is not None else {k: v for k, v in exp.slo.model_dump().items()
                                      if v is not None},
        "slo_metrics": exp.slo.limits(),
        "agent_per_hour_usd": spec.costs.agent_per_hour_usd,
        "calibrated_up_to": spec.calibrated_up_to,
        "set": spec.overrides,
        "points": len(exp.points),
        # simulations, as the CLI counts them: a point two tiers share runs once
        "runs": result.executed + result.reused,
        "run_rows": len(result.runs),
        "executed": result.executed,
        "reused": result.reused,
        "repaired": result.repaired,
        "wall_s": round(result.wall_s, 3),
        "command": list(command) if command is not None else None,
        "versions": versions(),
    }


def _spec_hash(spec: Any) -> str:
    import hashlib

    text = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def write_tables(result: SweepResult, out: Path,
                 command: Sequence[str] | None = None) -> list[Path]:
    """runs.parquet/csv, summary.parquet/csv, recommendations.csv and manifest.json."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("runs", result.runs), ("summary", result.summary)):
        frame.to_parquet(out / f"{name}.parquet", index=False)
        frame.to_csv(out / f"{name}.csv", index=False)
        written += [out / f"{name}.parquet", out / f"{name}.csv"]
    result.recommendations.to_csv(out / "recommendations.csv", index=False)
    written.append(out / "recommendations.csv")
    text = json.dumps(json_safe(manifest(result, command)), indent=2)
    (out / "manifest.json").write_text(text + "\n", encoding="utf-8")
    written.append(out / "manifest.json")
    return written




def estimate(experiment: Experiment, seconds_per_arrival: float,
             startup_s: float = 0.0) -> pd.DataFrame:
    """The points with their expected simulated arrivals and wall-time estimate
    (*startup_s* + *seconds_per_arrival* per arrival, per run, measured by pilot
    runs), for ``--dry-run``."""
    spec = experiment.spec
    reps = spec.replications if isinstance(spec.replications, int) else spec.replications.min
    rows = []
    for point in experiment.points:
        rate = offered_rate(point.model)
        arrivals = rate * spec.horizon
        rows.append({"point": point.index, "tier": point.tier, "config": point.config,
                     "load": point.load, "load_kind": point.load_kind, "replications": reps,
                     "arrivals_per_run": arrivals,
                     "estimate_s": (startup_s + arrivals * seconds_per_arrival) * reps})
    return pd.DataFrame(rows)


def offered_rate(model: Model) -> float:
    """Arrivals per second the model's workload offers (closed loop: users over
    think time plus one second, a rough response time)."""
    arrivals = model.workload.arrivals
    kind = arrivals.kind
    if kind in ("poisson", "deterministic"):
        return float(arrivals.rate)  # type: ignore[union-attr]
    if kind == "ramp":
        return (arrivals.from_ + arrivals.to) / 2  # type: ignore[union-attr]
    if kind == "steps":
        return float(arrivals.steps[-1].rate)  # type: ignore[union-attr]
    if kind == "closed":
        think = arrivals.think_time  # type: ignore[union-attr]
        think_s = float(think) if isinstance(think, int | float) else float(think.mean())
        return arrivals.users / (think_s + 1.0)  # type: ignore[union-attr]
    return 100.0


__all__ = ["RATE", "USERS", "SweepResult", "estimate", "run_sweep", "tables", "write_tables"]
