"""Honest progress for a sweep: the time left, estimated from the measured wall time
of the runs done so far, each run weighted by the requests it simulates (a run at
1,000 req/s costs a hundred times one at 10 req/s, so counting runs alone makes the
estimate fall, then rise, as a sweep moves from cheap tiers to dear ones)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from tarsim.sweep.loader import Experiment
from tarsim.sweep.runner import offered_rate
from tarsim.sweep.select import replications_of
from tarsim.sweep.timing import nominal_horizon

STARTUP_REQUESTS = 200.0
"""A run's fixed cost (building the model, starting the processes), counted as this
many simulated requests."""


def run_weights(experiment: Experiment) -> list[float]:
    """Each run's weight (requests it simulates, plus the start-up), in the order a
    sweep submits them: point by point (a point shared by two tiers once), its
    replications in turn."""
    spec = experiment.spec
    seen: set[str] = set()
    weights = []
    for point in experiment.points:
        if point.key in seen:
            continue
        seen.add(point.key)
        rate = offered_rate(point.model)
        weight = rate * nominal_horizon(spec, rate) + STARTUP_REQUESTS
        weights += [weight] * replications_of(experiment)
    return weights


class TimeLeft:
    """``update(done, total)`` -> seconds left, or None before the first run ends.

    The runs still to do are taken to be the last *total* of the sweep's order (a
    resumed sweep redoes its tail); the rate is the work done per wall second so far,
    which counts parallel workers by itself."""

    def __init__(self, weights: Sequence[float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.weights = list(weights)
        self.clock = clock
        self.started = clock()

    def update(self, done: int, total: int) -> float | None:
        mean = sum(self.weights) / len(self.weights) if self.weights else 1.0
        todo = self.weights[-total:] if total <= len(self.weights) else \
            self.weights + [mean] * (total - len(self.weights))
        finished = sum(todo[:done])
        left = sum(todo[done:])
        elapsed = self.clock() - self.started
        if finished <= 0 or elapsed <= 0:
            return None
        return elapsed * left / finished


def clock_text(seconds: float | None) -> str:
    """``ETA 1:02:03 (measured)`` or ``ETA measuring...``."""
    if seconds is None or not math.isfinite(seconds):
        return "time left: measuring the first runs..."
    whole = round(seconds)
    return f"time left ~{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d} " \
        "(from measured run times)"
