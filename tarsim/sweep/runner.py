"""A sweep: every point of an experiment times its replications, run on an executor,
each result stored the moment it arrives, then the tables built from the store.

Run (point, r) is simulated with the experiment's seed and replication index r,
so every point sees the same random numbers (common random numbers) and any
executor gives the same results. The tables are built from the store sorted by
point and replication, never in completion order, so they are identical however
the runs were scheduled, interrupted and resumed.
"""

from __future__ import annotations

import functools
import json
import math
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from tarsim.config import ConfigError, Model, Problem
from tarsim.config.outputs import atomic_write, atomic_write_text
from tarsim.executors import SERIAL, Executor, RunTask, make_executor
from tarsim.intervals import SKETCH
from tarsim.metrics import json_safe
from tarsim.steady import reason as steady_reason
from tarsim.sweep.budget import offered_rate
from tarsim.sweep.ladders import ladders, next_needed, skip_reasons
from tarsim.sweep.loader import Experiment
from tarsim.sweep.points import RATE, USERS, Point, point_key, show_value
from tarsim.sweep.recommend import paired, recommend, total_costs
from tarsim.sweep.screen import Screen, Screener, drained_model
from tarsim.sweep.stats import (
    SCREENED,
    SKIPPED,
    aggregate,
    flat_row,
    replications_needed,
    verdict,
)
from tarsim.sweep.store import RunStore, open_store
from tarsim.sweep.timing import Timing, nominal_horizon, point_timing, timing_for

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
    failures: list[Failure] = field(default_factory=list)
    """Runs that raised or whose worker died, with their point and error."""


@dataclass(frozen=True)
class Failure:
    """One failed run: its point, replication and error."""

    point: int
    label: str
    replication: int
    error: str


# ---------------------------------------------------------------- running
def run_sweep(
    experiment: Experiment,
    executor: Executor | None = None,
    *,
    out: Path | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    screen: bool = True,
) -> SweepResult:
    """Run every missing (point, replication) of *experiment* and build its tables.

    With *out*, each finished run is stored in ``out/runs.sqlite`` at once; with
    *resume*, the runs already there are kept and only the missing ones are run
    (failed runs too when *retry_failed*). Without *resume*, an *out* that already
    holds runs is an error, so that no results are overwritten by accident.

    A run that raises, or whose worker dies, is stored as failed with its error;
    the sweep goes on and its point is marked failed in the tables. *executor*
    is left open for its owner to close (a serial one is made when None).

    Each point is screened first (:mod:`tarsim.sweep.screen`): with *screen*, a
    point that cannot meet the SLOs is not simulated, and each configuration's
    loads are taken from the highest down, its lower loads skipped once it fails
    at one (:mod:`tarsim.sweep.ladders`); either way every limit a point demands
    beyond its rate starts empty, and each point runs for its own timing
    (:mod:`tarsim.sweep.timing`). Replications are added to a point until its SLO
    verdict is decided or the experiment's maximum is reached
    (:func:`tarsim.sweep.stats.replications_needed`)."""
    started = time.perf_counter()
    spec = experiment.spec
    store = open_store(out, resume, retry_failed)
    runner = executor or make_executor(SERIAL)
    slo = experiment.slo.limits()
    screener = Screener(slo)
    screens: dict[str, Screen] = {}
    by_key: dict[str, Point] = {}
    models: dict[str, Model] = {}
    timings: dict[str, Timing] = {}
    screener.prepare((p.model for p in experiment.points), runner)
    for point in experiment.points:
        if point.key in screens:
            continue
        found = screens[point.key] = screener.screen(point.model)
        timings[point.key] = point_timing(spec, found, point.model)
        if screen and found.screened:
            continue
        by_key[point.key] = point
        models[point.key] = drained_model(point.model, found)
    submitted: set[tuple[str, int]] = set()
    executed = 0
    reused = sum(len(store.runs_of(k)) for k in by_key)

    verdicts: dict[str, str] = {}

    def decided(key: str) -> str | None:
        """The point's verdict once its replications are final, else None. A run that
        raised says nothing of the SLOs: the configuration's lower loads still run."""
        if key in verdicts:  # a final verdict does not change
            return verdicts[key]
        if store.failures_of(key):
            return "error"
        have = {r: flat_row(m) for r, m in store.runs_of(key).items()}
        needed, final = replications_needed(have, spec.replications, slo)
        if not final or any(r not in have for r in range(needed)):
            return None
        verdicts[key] = verdict(aggregate([have[r] for r in range(needed)]), slo)
        return verdicts[key]

    def submit_missing(point: Point) -> None:
        if store.failures_of(point.key):
            return  # a failed point: no more replications
        have = store.runs_of(point.key)
        needed, _final = replications_needed(
            {r: flat_row(m) for r, m in have.items()}, spec.replications, slo)
        timing = timings[point.key]
        for r in range(needed):
            if r not in have and (point.key, r) not in submitted:
                submitted.add((point.key, r))
                runner.submit(RunTask.of(point.key, r, models[point.key],
                                         timing.horizon, timing.warmup, spec.seed))

    # with screening, each configuration's loads from the highest down; without it,
    # every point at once
    steps = ladders(experiment.points) if screen else []
    on_ladders: dict[str, list[Any]] = {}
    for step in steps:
        for key in step.keys:
            on_ladders.setdefault(key, []).append(step)

    def advance(key: str | None = None) -> None:
        for step in on_ladders.get(key, []) if key is not None else steps:
            needed = next_needed(step, by_key, decided)
            if needed is not None:
                submit_missing(by_key[needed])

    try:
        if screen:
            advance()
        else:
            for point in by_key.values():
                submit_missing(point)
        while runner.pending():
            outcome = runner.next_done()
            store.keep(outcome)
            executed += 1
            submit_missing(by_key[outcome.task.key])
            advance(outcome.task.key)
            if progress is not None:
                progress(executed, len(submitted))
        skips = skip_reasons(steps, by_key, decided)
        runs, summary = tables(experiment, store, screens if screen else
                               {k: s for k, s in screens.items() if not s.screened},
                               timings=timings, skipped=skips)
        summary = total_costs(summary, spec.costs.agent_per_hour_usd)
        recommendations = paired(recommend(summary, experiment.slo.limits(),
                                           spec.costs.agent_per_hour_usd), runs)
        if spec.capacity:
            recommendations = with_capacity(experiment, recommendations, runner, screens,
                                            store)
    finally:
        store.close()
        if executor is None:
            runner.close()
    return SweepResult(
        experiment, runs, summary, recommendations,
        executed=executed, reused=reused, repaired=store.repaired,
        wall_s=time.perf_counter() - started, failures=_failures(experiment, store),
    )


def _failures(experiment: Experiment, store: RunStore) -> list[Failure]:
    return [Failure(point.index, point.label, r, error)
            for point in experiment.points
            for r, error in sorted(store.failures_of(point.key).items())]


CAPACITY_TOLERANCE = 0.05
"""How closely a sweep brackets each recommendation's capacity (relative): enough to
say how far it stretches, with fewer probes than ``tarsim capacity``'s 2 %."""


def with_capacity(experiment: Experiment, recommendations: pd.DataFrame,
                  executor: Executor | None = None,
                  screens: Mapping[str, Screen] | None = None,
                  store: RunStore | None = None) -> pd.DataFrame:
    """The recommendations with the capacity of each tier's recommended configuration:
    ``capacity`` (the highest load found to meet the SLOs) and ``capacity_failed_at``
    (the lowest found not to), searched from the tier's highest load on *executor*
    (the sweep's own). Tiers with no configuration meeting the SLOs get NaN."""
    from tarsim.sweep.capacity import search

    spec = experiment.spec
    reps = spec.replications
    # three at least: with two, p99's interval rests on one degree of freedom
    replications = max(3, reps if isinstance(reps, int) else reps.min)
    found, failed = [], []
    for _, row in recommendations.iterrows():
        if row["status"] != "ok":
            found.append(math.nan)
            failed.append(math.nan)
            continue
        point = experiment.points[int(row["point"])]
        # long enough for p99's interval down to half the tier's load
        screened = (screens or {}).get(point.key)
        rate = float(row["load"]) if row["load_kind"] == RATE else (
            screened.rate if screened is not None else 0.0)
        timing = timing_for(spec.horizon, spec.warmup,
                            screened.floor_p99 if screened is not None else math.nan,
                            rate / 2, point.model,
                            screened.floor_mean if screened is not None else math.nan)
        result = search(point.model, experiment.slo.limits(), duration=timing.horizon,
                        warmup=timing.warmup, seed=spec.seed, replications=replications,
                        start=float(row["load"]), executor=executor, store=store,
                        tolerance=CAPACITY_TOLERANCE)
        found.append(result.load)
        failed.append(result.failed_at)
    return recommendations.assign(capacity=found, capacity_failed_at=failed)


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


def _hosts(model: Any) -> int:
    return 1 if model.deployment is None else model.deployment.host_count


def _point_columns(points: Sequence[Point]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "point": [p.index for p in points],
        "tier": [p.tier for p in points],
        "load_kind": [p.load_kind for p in points],
        "load": [p.load for p in points],
        "config": [p.config for p in points],
        **_axis_columns(points),
        # agents.count is per host: the columns count the whole deployment
        "hosts": [_hosts(p.model) for p in points],
        "agents_count": [p.model.agents.count * _hosts(p.model) for p in points],
        "slots": [p.model.agents.count * p.model.agents.concurrency * _hosts(p.model)
                  for p in points],
        "key": [p.key for p in points],
    })
    return frame


def tables(experiment: Experiment, store: RunStore,
           screens: Mapping[str, Screen] | None = None, *,
           timings: Mapping[str, Timing] | None = None,
           skipped: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, summary) from the stored runs of *experiment*'s points: one row per
    point and replication; one row per point with each metric's mean and CI, its
    verdict (``meets``, ``fails``, ``uncertain``, ``screened`` or ``skipped``: the
    reason is in ``screen_reason``), its screening (demand on each limit, zero-load
    p99, the reason when screened) and its timing (``horizon_s``, ``warmup_s``). A
    point with a failed run keeps its row, with the run's ``error`` and NaN metrics
    (the ``error`` column is there only when some run failed)."""
    points = experiment.points
    screens = screens or {}
    timings = timings or {}
    skipped = skipped or {}
    slo = experiment.slo.limits()
    base = _point_columns(points)
    run_rows, summary_rows, missing = [], [], []
    for i, point in enumerate(points):
        found = screens.get(point.key)
        screened = {} if found is None else {
            "floor_p99": found.floor_p99, "screen_reason": found.reason,
            **{f"demand_{k}": v for k, v in found.demand.items()}}
        timing = timings.get(point.key)
        if timing is not None:
            screened.update(horizon_s=timing.horizon, warmup_s=timing.warmup)
        if found is not None and found.screened:
            summary_rows.append({"_row": i, "replications": 0, "verdict": SCREENED,
                                 **screened})
            continue
        if point.key in skipped:
            summary_rows.append({"_row": i, "replications": 0, "verdict": SKIPPED,
                                 **screened, "screen_reason": skipped[point.key]})
            continue
        failed = store.failures_of(point.key)
        have = {r: flat_row(m) for r, m in store.runs_of(point.key).items()}
        if failed:
            error = "; ".join(f"replication {r}: {e}" for r, e in sorted(failed.items()))
            for r in sorted(set(have) | set(failed)):
                run_rows.append({"_row": i, "replication": r,
                                 **{k: v for k, v in have.get(r, {}).items()
                                    if not k.startswith(SKETCH)},
                                 "error": failed.get(r, "")})
            summary_rows.append({"_row": i, "replications": len(have), "error": error,
                                 **screened})
            continue
        n, final = replications_needed(have, experiment.spec.replications, slo)
        if not final or any(r not in have for r in range(n)):
            missing.append(point.label)
            continue
        chosen = [have[r] for r in range(n)]
        for r, row in enumerate(chosen):
            run_rows.append({"_row": i, "replication": r,
                             **{k: v for k, v in row.items() if not k.startswith(SKETCH)}})
        row = aggregate(chosen)
        unsteady = steady_reason(row, timing.warmup if timing is not None
                                 else experiment.spec.warmup_s)
        summary_rows.append({"_row": i, "replications": n, **row,
                             "verdict": verdict(row, slo), "steady": not unsteady,
                             "steady_reason": unsteady, **screened})
    if missing:
        raise ConfigError([Problem("--out", f"runs are missing for {len(missing)} points, "
                                   f"e.g. {missing[0]}", has_value=False)])
    runs_frame, summary_frame = pd.DataFrame(run_rows), pd.DataFrame(summary_rows)
    if "error" in runs_frame:
        runs_frame["error"] = runs_frame["error"].fillna("")
        summary_frame["error"] = summary_frame["error"].fillna("")
    index = base.reset_index(drop=True)
    runs = index.merge(runs_frame if run_rows else pd.DataFrame(columns=["_row"]),
                       left_index=True, right_on="_row")
    summary = index.merge(summary_frame, left_index=True, right_on="_row")
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
        "warmup_s": spec.warmup if spec.auto_timing else spec.warmup_s,
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
        "failed_runs": len(result.failures),
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
        written.append(atomic_write(out / f"{name}.parquet",
                                    functools.partial(_parquet, frame), binary=True))
        written.append(atomic_write(out / f"{name}.csv", functools.partial(_csv, frame)))
    written.append(atomic_write(out / "recommendations.csv",
                                functools.partial(_csv, result.recommendations)))
    text = json.dumps(json_safe(manifest(result, command)), indent=2)
    written.append(atomic_write_text(out / "manifest.json", text + "\n"))
    return written




def _parquet(frame: pd.DataFrame, out: Any) -> None:
    frame.to_parquet(out, index=False)


def _csv(frame: pd.DataFrame, out: Any) -> None:
    frame.to_csv(out, index=False)


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
        arrivals = rate * nominal_horizon(spec, rate)
        rows.append({"point": point.index, "tier": point.tier, "config": point.config,
                     "load": point.load, "load_kind": point.load_kind, "replications": reps,
                     "arrivals_per_run": arrivals,
                     "estimate_s": (startup_s + arrivals * seconds_per_arrival) * reps})
    return pd.DataFrame(rows)


__all__ = ["RATE", "USERS", "Failure", "SweepResult", "estimate", "offered_rate", "run_sweep",
           "tables", "write_tables"]
