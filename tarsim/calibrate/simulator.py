"""Simulating baseline rows for a fit, and scoring them (see :mod:`tarsim.calibrate.fit`).

A :class:`Simulator` runs the replications of the rows a fit asks for on one
:class:`~tarsim.executors.Runner`: every run of one request - all rows of one
evaluation, all points of a Latin-hypercube scan, all points of a finite-difference
Jacobian - is submitted at once, so a process pool or a Dask cluster runs them side
by side. Each replication draws from the streams of (seed, replication), so the
executor cannot change a result: a fit gives the same parameters on any of them.
A run that fails is an invalid trial, as is a point the model refuses: its
metrics are missing and the fit penalises it. A row's simulated metrics are the
means of its replications' values (:func:`replication_means`), not the pooled
quantiles and error rate of :func:`tarsim.metrics.aggregate`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from tarsim import metrics
from tarsim.calibrate.baseline import Baseline, BaselineRow
from tarsim.calibrate.params import Parameter, values
from tarsim.config.errors import ConfigError, Problem
from tarsim.config.loader import with_overrides
from tarsim.config.model import Model
from tarsim.executors import SERIAL, Runner, RunTask, make_executor
from tarsim.run import RunRecords, simulate
from tarsim.vocabulary import Outcome

METRICS = ("throughput", "p99", "error_rate", "memory_mb")
SUMMARY_PATH = {"throughput": "throughput", "p99": "latency.p99", "error_rate": "error_rate",
                "memory_mb": "memory.mean_mb"}
TOLERANCE = {"throughput": 0.05, "p99": 0.10, "error_rate": 0.015, "memory_mb": 0.10}
RELATIVE = {"throughput": True, "p99": True, "error_rate": False, "memory_mb": True}
MISSING_PENALTY = 100.0
"""Residual of a metric the simulation could not produce (no successful request, or a
trial point the model refuses)."""


@dataclass(frozen=True)
class FitSettings:
    duration_s: float = 60.0
    warmup_s: float = 10.0
    replications: int = 2
    seed: int = 1
    max_iterations: int = 20
    """Budget of the local stage, in least-squares evaluations (each costs about one
    simulation of every row per parameter); 0 moves nothing."""
    scan_points: int | None = None
    """Points of the global stage; None: 8 per continuous parameter, at most 64."""
    starts: int = 3
    """The local stage runs from this many of the best points of the global stage
    (the start among them) and keeps the best end."""
    noise_replications: int = 8
    """Independent replications at the optimum that estimate the noise behind the
    parameter CIs."""
    profile_iterations: int = 3
    """Budget of the refit of the continuous parameters at each integer value tried."""


# ---------------------------------------------------------------- simulating rows
def row_overrides(model: Model, row: BaselineRow) -> dict[str, Any]:
    arrivals = model.workload.arrivals
    overrides: dict[str, Any] = {}
    if row.load_kind == "concurrency":
        think = getattr(arrivals, "think_time", 0.0)
        think_data = think.model_dump(by_alias=True, exclude_none=True) \
            if isinstance(think, BaseModel) else think
        overrides["workload.arrivals"] = {"kind": "closed", "users": max(1, round(row.load)),
                                          "think_time": think_data}
    else:
        overrides["workload.arrivals"] = {"kind": "poisson", "rate": row.load}
    if row.agents is not None:
        overrides["agents.count"] = row.agents
        overrides["agents.warm"] = row.agents
    return overrides


def check_rows(model: Model, baseline: Baseline) -> None:
    """Every row as a run of *model* (its users, rate, agents within the model's own
    bounds), or a ConfigError naming the row: a trial point that fails later is then
    the parameters' fault, and is penalised rather than reported."""
    problems = []
    for i, row in enumerate(baseline.rows):
        try:
            with_overrides(model, row_overrides(model, row))
        except ConfigError as exc:
            problems += [Problem(f"baseline row {i + 1} (load {row.load:g})", str(p),
                                 has_value=False) for p in exc.problems]
    if problems:
        raise ConfigError(problems, baseline.source or None)


@dataclass
class RowResult:
    measured: dict[str, float]
    simulated: dict[str, float]
    ci95: dict[str, float]


def _p99_all(rec: RunRecords) -> float:
    """p99 of every request that arrived in the window and finished, failed or not."""
    req = rec.request_columns
    arrival, end, outcome = req["arrival"], req["end"], req["outcome"]
    done = (arrival >= rec.warmup_s) & (arrival < rec.duration_s) & (outcome != Outcome.UNFINISHED)
    latency = end[done] - arrival[done]
    return float(np.quantile(latency, 0.99)) if len(latency) else math.nan


def row_run(task: RunTask) -> dict[str, Any]:
    """One replication of one baseline row (the run function of a calibration's
    runner): its summary, with ``p99_all`` the p99 of every finished request."""
    records = simulate(task.model, duration=task.duration, warmup=task.warmup,
                       seed=task.seed, replication=task.replication)
    summary = metrics.summarize(records)
    summary["p99_all"] = _p99_all(records)
    return summary


def calibration_runner(kind: str = SERIAL, **options: Any) -> Runner:
    """A runner for a calibration's runs (:func:`row_run`) on the executor *kind*
    (``serial``, ``local``, ``dask``; *options* as :func:`tarsim.executors.make_executor`)."""
    return make_executor(kind, run=row_run, **options)


Request = tuple["Simulator", np.ndarray, int, BaselineRow]
"""(simulator, parameter values, row index, row): one row at one point."""


class Simulator:
    """Simulates baseline rows for parameter values, on fixed seeds, keeping the
    latest runs so that a parameter vector seen again is not simulated twice.

    The runs go to *runner* (its run function :func:`row_run`); None: a serial one."""

    def __init__(self, model: Model, params: Sequence[Parameter], settings: FitSettings,
                 cache_size: int = 48, runner: Runner | None = None) -> None:
        self.model = model
        self.params = list(params)
        self.settings = settings
        self.runner = runner or calibration_runner()
        self.runs: OrderedDict[Any, dict[str, Any] | None] = OrderedDict()
        self.cache_size = cache_size
        self.simulations = 0
        self.invalid = 0
        """Trial points the model refused, or whose runs failed (penalised)."""
        self.errors: list[str] = []
        """Why runs failed (one per failed trial)."""

    def model_at(self, theta: Sequence[float] | np.ndarray) -> Model:
        given = values(self.params, theta)
        return with_overrides(self.model, given) if given else self.model

    def row(self, theta: Sequence[float] | np.ndarray, index: int, row: BaselineRow) -> RowResult:
        return self.rows([theta], [(index, row)])[0][0]

    def rows(self, points: Iterable[Sequence[float] | np.ndarray],
             rows: Sequence[tuple[int, BaselineRow]]) -> list[list[RowResult]]:
        """Every row at every point (all their runs submitted together)."""
        return evaluate([self], points, rows)

    def key(self, theta: np.ndarray, index: int) -> tuple[Any, ...]:
        return index, tuple(round(float(t), 12) for t in theta)

    def remember(self, key: tuple[Any, ...], summary: dict[str, Any] | None,
                 batch: int) -> None:
        """Keep *summary*; the cache holds at least two batches of *batch* requests
        (so that scipy's finite-difference map finds the batch it just simulated)."""
        self.runs[key] = summary
        while len(self.runs) > max(self.cache_size, 2 * batch):
            self.runs.popitem(last=False)


def evaluate(sims: Sequence[Simulator], points: Iterable[Sequence[float] | np.ndarray],
             rows: Sequence[tuple[int, BaselineRow]]) -> list[list[RowResult]]:
    """Every row at every point with every simulator (they share one runner), all
    their runs submitted together: one list of row results per (simulator, point),
    simulators outermost."""
    thetas = [np.asarray(theta, dtype=float) for theta in points]
    wanted = [(sim, theta, i, row) for sim in sims for theta in thetas for i, row in rows]
    results = [_row_result(summary, request[3])
               for summary, request in zip(summaries(wanted), wanted, strict=True)]
    size = max(1, len(rows))
    return [results[k:k + size] for k in range(0, len(results), size)]


def summaries(requests: Sequence[Request]) -> list[dict[str, Any] | None]:
    """The summary of each request over its replications (None: an invalid trial).
    The replications not in a simulator's cache are submitted at once to its runner,
    then kept in its cache in request order, so the order the runs finish in
    changes nothing."""
    out: list[dict[str, Any] | None] = [None] * len(requests)
    jobs: dict[tuple[int, Any], tuple[Simulator, list[int]]] = {}
    for pos, (sim, theta, index, row) in enumerate(requests):
        key = sim.key(theta, index)
        if key in sim.runs:
            sim.runs.move_to_end(key)
            out[pos] = sim.runs[key]
        elif (id(sim), key) in jobs:
            jobs[id(sim), key][1].append(pos)
        else:
            try:
                model = sim.model_at(theta)
                row_model = with_overrides(model, row_overrides(model, row))
            except (ConfigError, ValueError):
                sim.invalid += 1
                sim.remember(key, None, len(requests))
                continue
            s = sim.settings
            for r in range(s.replications):
                sim.runner.submit(RunTask.of(str(len(jobs)), r, row_model, s.duration_s,
                                             s.warmup_s, s.seed))
            jobs[id(sim), key] = (sim, [pos])
    runs: dict[str, dict[int, Any]] = {}
    failed: dict[str, str] = {}
    for runner in {id(sim.runner): sim.runner for sim, _ in jobs.values()}.values():
        while runner.pending():
            outcome = runner.next_done()
            runs.setdefault(outcome.task.key, {})[outcome.task.replication] = outcome.metrics
            if outcome.error is not None:
                failed.setdefault(outcome.task.key, outcome.error)
    for n, ((_, key), (sim, positions)) in enumerate(jobs.items()):
        summary = None
        if str(n) in failed:
            sim.invalid += 1
            sim.errors.append(failed[str(n)])
        else:
            done = [runs[str(n)][r] for r in range(sim.settings.replications)]
            sim.simulations += len(done)
            p99_all = [run.pop("p99_all") for run in done]
            summary = metrics.aggregate(done)
            summary["p99_all"] = float(np.nanmean(p99_all))
            summary["fitted"] = replication_means(done)
        sim.remember(key, summary, len(requests))
        for pos in positions:
            out[pos] = summary
    return out


def replication_means(runs: Sequence[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Each fitted metric (:data:`METRICS`) as the mean of its replications' values,
    with the t half-width of that mean: (mean, half-width).

    Not :func:`tarsim.metrics.aggregate`'s pooled quantiles and error rate: the fit's
    noise allowance (:func:`~tarsim.calibrate.fit._noise_covariance`) divides the
    variance of one replication by the replications, which is the variance of a mean
    of replications, and a row with ``p99_of: all`` is that mean too."""
    out = {}
    for name in METRICS:
        values = np.array([_get(run, SUMMARY_PATH[name]) for run in runs], dtype=float)
        mean = float(np.nanmean(values)) if not np.isnan(values).all() else math.nan
        out[name] = (mean, metrics.t_halfwidth(values))
    return out


def _row_result(summary: dict[str, Any] | None, row: BaselineRow) -> RowResult:
    if summary is None:
        nan = dict.fromkeys(METRICS, math.nan)
        return RowResult(row.metrics(), nan, dict(nan))
    simulated = {name: mean for name, (mean, _) in summary["fitted"].items()}
    half = {name: width for name, (_, width) in summary["fitted"].items()}
    if row.p99_of == "all":
        simulated["p99"] = summary["p99_all"]
        half["p99"] = math.nan
    return RowResult(row.metrics(), simulated, half)


def _get(summary: dict[str, Any], path: str) -> float:
    node: Any = summary
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return float(node) if isinstance(node, int | float) else math.nan


def residuals(results: Sequence[RowResult]) -> np.ndarray:
    out = []
    for res in results:
        for name, measured in res.measured.items():
            sim = res.simulated[name]
            scale = TOLERANCE[name] * (abs(measured) if RELATIVE[name] else 1.0)
            scale = scale if scale > 0 else TOLERANCE[name]
            out.append(MISSING_PENALTY if math.isnan(sim) else (sim - measured) / scale)
    return np.array(out, dtype=float)


def relative_errors(res: RowResult) -> dict[str, float]:
    """Throughput, p99, memory: (simulated - measured) / measured; error rate: the
    difference in points (percentage points)."""
    out = {}
    for name, measured in res.measured.items():
        sim = res.simulated[name]
        if RELATIVE[name]:
            out[name] = (sim - measured) / measured if measured else math.nan
        else:
            out[name] = 100.0 * (sim - measured)
    return out


