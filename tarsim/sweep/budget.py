"""The work a run or a sweep asks for, estimated before it starts, so that a typo
such as ``--duration 1e12`` or a 100 x 100 x 100 grid is refused at once (unless
forced) instead of holding the machine for days or until memory runs out.

The estimate is deliberately rough: arrivals per run are the workload's offered
rate times the horizon; each arrival costs about :data:`SECONDS_PER_ARRIVAL` of
one core and :data:`BYTES_PER_ARRIVAL` of memory while its run lasts (the run's
records are kept until it is summarised). Only work *far* beyond the machine is
refused: more memory in one run than the machine has, or more than
:data:`MAX_WALL_S` of wall time on the workers given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from tarsim.config import ConfigError, Model, Problem

SECONDS_PER_ARRIVAL = 1e-4
"""CPU seconds per arrival: models/tars.yaml, 600 s, 16,375 arrivals in 2.3 s of
wall time of which about 0.7 s is start-up (measured on the 2-core dev machine)."""
BYTES_PER_ARRIVAL = 1024
"""Memory per arrival kept in a run's records: the same runs peak at 60 MB (120 s,
3,300 arrivals) and 69 MB (600 s, 16,375 arrivals), about 700 bytes each; rounded up."""
MAX_WALL_S = 24 * 3600.0
"""Wall time above which a run or sweep is refused without ``force``."""


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


def machine_memory() -> float:
    """Bytes of physical memory (NaN where the platform does not say)."""
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return math.nan


def check_experiment_work(experiment: Any, workers: int) -> None:
    """:func:`check_work` for every point of an experiment (adaptive replications
    counted at their minimum)."""
    spec = experiment.spec
    reps = spec.replications if isinstance(spec.replications, int) else spec.replications.min
    from tarsim.sweep.timing import nominal_horizon

    models = [p.model for p in experiment.points]
    horizons = [nominal_horizon(spec, offered_rate(m)) for m in models]
    check_work(models, horizons, reps, workers,
               what="horizon")


def check_work(models: Iterable[Model], horizon: float | Sequence[float], replications: int,
               workers: int = 1, *, what: str = "--duration") -> None:
    """Raise a ConfigError saying how large the work is, when one run needs more
    memory than the machine has or the whole needs more than :data:`MAX_WALL_S`."""
    biggest, total = 0.0, 0.0
    models = list(models)
    horizons = [horizon] * len(models) if isinstance(horizon, int | float) else list(horizon)
    for model, each in zip(models, horizons, strict=True):
        arrivals = offered_rate(model) * each
        biggest = max(biggest, arrivals)
        total += arrivals * replications
    memory = biggest * BYTES_PER_ARRIVAL
    wall = total * SECONDS_PER_ARRIVAL / max(1, workers)
    reasons = []
    if memory > machine_memory():
        reasons.append(f"one run keeps about {biggest:.3g} arrivals, ~{memory / 1e9:.3g} GB "
                       f"(this machine has {machine_memory() / 1e9:.3g} GB)")
    if wall > MAX_WALL_S:
        reasons.append(f"{total:.3g} arrivals in all, ~{wall / 3600:.3g} h on {workers} "
                       "worker(s)")
    if reasons:
        raise ConfigError([Problem(what, "asks for far more work than this machine can do: "
                                   + "; ".join(reasons)
                                   + "; shorten it, or add --force to start anyway",
                                   horizon if isinstance(horizon, int | float)
                                   else max(horizons, default=0.0))])
