"""Capacity search: the highest load a configuration carries within its SLOs.

The load is the open-loop arrival rate (or the number of closed-loop users).
Each probe runs R replications at one load and decides on the 95% CIs: the load
is sustained when every SLO's CI upper bound is within its limit. Every rate limit a
probe's load demands beyond its rate starts drained (as in a sweep), so a probe
shorter than the time a full bucket takes to empty still sees the limit. The search
brackets the answer (doubling up, or halving down, from the model's own load)
and then bisects until the bracket is narrower than the tolerance. Every probe
uses the same seeds, so neighbouring loads share random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tarsim.config import ConfigError, Model, Problem, with_overrides
from tarsim.executors import SERIAL, Executor, RunTask, make_executor
from tarsim.sweep.points import RATE, USERS, load_overrides, model_load, point_key
from tarsim.sweep.screen import Screener, drained_model
from tarsim.sweep.stats import aggregate, column, flat_row, meets, slo_ratios, upper_bound

MAX_PROBES = 60
"""Probes allowed to bracket and bisect, a guard against SLOs no load can meet."""


@dataclass(frozen=True)
class Probe:
    """One load tried: its verdict and each SLO metric's mean and CI upper bound."""

    load: float
    sustained: bool
    metrics: dict[str, float]
    upper: dict[str, float]
    ratios: dict[str, float]


@dataclass
class Capacity:
    """The outcome: *load* was sustained and *failed_at* was not (NaN when no load
    tried met the SLOs, or when none failed)."""

    load_kind: str
    load: float
    failed_at: float
    limits: dict[str, float]
    probes: list[Probe] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return math.isfinite(self.load) and math.isfinite(self.failed_at)

    def probe_at(self, load: float) -> Probe:
        return next(p for p in self.probes if p.load == load)


def _check(limits: Mapping[str, float], tolerance: float, replications: int) -> None:
    problems = []
    if not limits:
        problems.append(Problem("--slo", "needs at least one objective (p99=3s, "
                                "error_rate=0.01, ...)", has_value=False))
    if not 0 < tolerance < 1:
        problems.append(Problem("tolerance", "must be > 0 and < 1", tolerance))
    if replications < 2:
        problems.append(Problem("replications", "must be >= 2 to give a confidence interval",
                                replications))
    if problems:
        raise ConfigError(problems)


def search(
    model: Model,
    limits: Mapping[str, float],
    *,
    duration: float,
    warmup: float,
    seed: int = 1,
    replications: int = 5,
    tolerance: float = 0.02,
    start: float | None = None,
    executor: Executor | None = None,
    progress: Callable[[Probe], None] | None = None,
    store: Any = None,
) -> Capacity:
    """The highest load *model* sustains within *limits* (metric path -> limit,
    as :meth:`SLOSpec.limits` gives them), to within *tolerance* (relative).

    The probes run on *executor*, which is left open for its owner (a serial one
    is made, and closed, when None). With a sweep's *store*
    (:class:`tarsim.sweep.store.RunStore`), each probe's runs are kept there and
    taken from there when a resumed sweep searches again."""
    _check(limits, tolerance, replications)
    kind, own = model_load(model)
    if kind not in (RATE, USERS):
        kind, own = RATE, math.nan
    start = own if start is None else start
    if not (math.isfinite(start) and start > 0):
        raise ConfigError([Problem("start", "needs a load > 0 to start from (the model's "
                                   "workload is not a constant rate or users)", start)])
    runner = executor or make_executor(SERIAL)
    probes: list[Probe] = []
    screener = Screener(limits)

    def probe(load: float) -> Probe:
        if kind == USERS:
            load = float(max(1, round(load)))
        for done in probes:
            if done.load == load:
                return done
        point = with_overrides(model, load_overrides(model, kind, load))
        # as a sweep prepares its points: a limit this load demands past its rate
        # starts drained, so that a short probe sees its steady 429s, not a full bucket
        point = drained_model(point, screener.screen(point))
        key = point_key(point, duration, warmup, seed)
        kept = store.runs_of(key) if store is not None else {}
        rows: dict[int, dict[str, float]] = {r: flat_row(kept[r]) for r in range(replications)
                                             if r in kept}
        for r in range(replications):
            if r not in rows:
                runner.submit(RunTask.of(key, r, point, duration, warmup, seed))
        errors: list[str] = []
        while len(rows) + len(errors) < replications:
            outcome = runner.next_done()
            if store is not None:
                store.keep(outcome)
            if outcome.metrics is None:
                errors.append(f"replication {outcome.task.replication}: {outcome.error}")
            else:
                rows[outcome.task.replication] = flat_row(outcome.metrics)
        if errors:
            raise ConfigError([Problem("load", f"a run at this load failed ({errors[0]})",
                                       load)])
        stats = aggregate([rows[r] for r in range(replications)])
        names = [column(p) for p in limits]
        result = Probe(load, meets(stats, limits),
                       {n: stats.get(n, math.nan) for n in names},
                       {n: upper_bound(stats, n) for n in names},
                       slo_ratios(stats, limits))
        probes.append(result)
        if progress is not None:
            progress(result)
        return result

    try:
        low, high = _bracket(probe, start, kind)
        while (math.isfinite(low) and math.isfinite(high) and len(probes) < MAX_PROBES
               and high - low > tolerance * high and not (kind == USERS and high - low <= 1)):
            # the load the probe ran (users are whole): a probe answered from an
            # earlier one is not the last of *probes*
            tried = probe((low + high) / 2)
            if tried.sustained:
                low = tried.load
            else:
                high = tried.load
    finally:
        if executor is None:
            runner.close()
    return Capacity(kind, low, high, dict(limits), probes)


def _bracket(probe: Callable[[float], Probe], start: float, kind: str) -> tuple[float, float]:
    """(sustained load, failing load) around the answer, from *start* by doubling or
    halving; NaN on a side that could not be found within the probe budget."""
    first = probe(start)
    low, high = (first.load, math.nan) if first.sustained else (math.nan, first.load)
    for _ in range(MAX_PROBES // 3):
        if first.sustained:
            tried = probe(low * 2)
            if not tried.sustained:
                return low, tried.load
            low = tried.load
        else:
            if kind == USERS and high / 2 < 1:
                return math.nan, high
            tried = probe(high / 2)
            if tried.sustained:
                return tried.load, high
            high = tried.load
    return low, high


def summary(result: Capacity) -> dict[str, Any]:
    """The result as plain data (the ``tarsim capacity --format json`` output)."""
    return {
        "load_kind": result.load_kind,
        "capacity": result.load,
        "failed_at": result.failed_at,
        "found": result.found,
        "slo": result.limits,
        "probes": [{"load": p.load, "sustained": p.sustained, "mean": p.metrics,
                    "upper_95": p.upper} for p in result.probes],
    }
