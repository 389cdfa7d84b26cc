"""How long each point of a sweep runs: its warm-up and its measured window.

An experiment may fix both (``horizon: 60s``, ``warmup: 20s``): then every point
runs that long, lengthened only where its rate would leave a replication fewer than
:data:`SAMPLES_PER_RUN` requests to measure. With ``horizon: auto`` each point's
timing follows from its own model instead:

- **Warm-up**: the longest of the model's time constants, and at least
  :data:`MIN_WARMUP_S`: :data:`FILL_TIMES` times the zero-load p99 of its request
  path (from the point's screening), which is how long the requests in flight take
  to reach their level from an empty start; the relaxation time of the agent slots
  as a queue of c servers, 1 / (cμ(1 − √ρ)²) and at least 1/μ (Morse's M/M/1 time
  at the pool's rate cμ) with 1/μ the zero-load mean latency and ρ the offered load
  over the slots (at most :data:`MAX_RHO`); the agents' spawn time when some start
  cold; the agent and host autoscalers' periods, windows and pod start time, the
  degradation controller's period; the agents' idle timeout; the
  garbage collector's interval. Rate limits need no time: every limit a point
  demands beyond its rate starts drained (:func:`tarsim.sweep.screen.drained_model`),
  which is its steady state, and one demanded below its rate stays near full, as it
  starts.
- **Window**: long enough to hold :data:`SAMPLES_PER_RUN` requests at the point's
  rate, and at least :data:`MIN_WINDOW_S`.

A fast point thus costs a few thousand simulated requests instead of a minute of
traffic. Whether the warm-up was long enough is checked after the run
(:mod:`tarsim.steady`), though on runs this short mostly by the window's halves
compared on throughput and error rate (MSER-5 needs 20 s of series, the p99 halves
500 successes each); the coverage test of the p99 intervals on random M/M/c queues
(``tests/test_sweep_timing.py``) is the evidence that these warm-ups suffice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tarsim.config import Model

AUTO = "auto"
SAMPLES_PER_RUN = 800
"""Requests a replication's window should hold: its own p99 interval needs 500
successful ones (intervals.MIN_BEYOND beyond the 0.99-quantile), with room for
Poisson variation and errors."""
MIN_WARMUP_S = 5.0
FILL_TIMES = 2.0
"""Zero-load p99 sojourns the requests in flight take to reach their level: after
one, only the requests slower than the p99 are still short of it."""
MAX_RHO = 0.9
"""Slot loads above this (near or past overload, where no warm-up reaches a steady
state: the steady-state check flags such points) count as this."""
MIN_WINDOW_S = 10.0
"""The shortest window measured: a few sojourn times, so that the halves compared
by the steady-state check each hold whole requests' lives."""
FALLBACK_WINDOW_S = 300.0
"""Window of an automatic timing when the point has no steady rate (a ramp, steps
or a trace): the experiment default horizon."""


@dataclass(frozen=True)
class Timing:
    """One point's run settings: its horizon and the warm-up not measured."""

    horizon: float
    warmup: float

    @property
    def window(self) -> float:
        return self.horizon - self.warmup


def timing_for(horizon: float | str, warmup: float | None, floor_p99: float,
               rate: float, model: Model, floor_mean: float = math.nan) -> Timing:
    """The timing of a point whose screening found the zero-load p99 *floor_p99* and
    mean *floor_mean* and the offered *rate* (requests a second; 0 when it has no
    steady one), under an experiment's *horizon* (seconds or ``"auto"``) and
    *warmup* (None: 10 % of a fixed horizon, the time constants of an automatic
    one)."""
    if horizon != AUTO:
        return _fixed(float(horizon), warmup, rate)
    start = settle_time(model, floor_p99, rate, floor_mean) if warmup is None \
        else float(warmup)
    return Timing(start + _window(rate), start)


def _fixed(horizon: float, warmup: float | None, rate: float) -> Timing:
    """A fixed horizon (warm-up 10 % of it by default), lengthened where *rate* would
    leave fewer than SAMPLES_PER_RUN requests in the window."""
    start = horizon * 0.1 if warmup is None else float(warmup)
    return Timing(max(horizon, start + SAMPLES_PER_RUN / rate) if rate > 0 else horizon, start)


def _window(rate: float) -> float:
    """An automatic window: SAMPLES_PER_RUN requests at *rate*, at least MIN_WINDOW_S."""
    return max(MIN_WINDOW_S, SAMPLES_PER_RUN / rate) if rate > 0 else FALLBACK_WINDOW_S


def point_timing(spec: Any, screen: Any, model: Model) -> Timing:
    """:func:`timing_for` of an experiment *spec* and a point's *screen*
    (:class:`tarsim.sweep.screen.Screen`)."""
    return timing_for(spec.horizon, spec.warmup, screen.floor_p99, screen.rate, model,
                      screen.floor_mean)


def nominal_horizon(spec: Any, rate: float) -> float:
    """A horizon for estimating a point's work before it is screened, at its offered
    *rate*: the fixed one (lengthened as :func:`timing_for` does), or an automatic
    timing with the shortest warm-up."""
    if spec.horizon != AUTO:
        return _fixed(float(spec.horizon), spec.warmup, rate).horizon
    return MIN_WARMUP_S + _window(rate)


def settle_time(model: Model, floor_p99: float, rate: float = 0.0,
                floor_mean: float = math.nan) -> float:
    """The longest time constant of *model* (see the module docstring), in seconds."""
    constants = [MIN_WARMUP_S]
    if math.isfinite(floor_p99):  # some request succeeded at zero load
        constants.append(FILL_TIMES * floor_p99)
    agents = model.agents
    if rate > 0 and math.isfinite(floor_mean) and floor_mean > 0:
        hosts = model.deployment.host_count if model.deployment is not None else 1
        slots = agents.count * agents.concurrency * hosts
        rho = min(MAX_RHO, rate * floor_mean / slots)
        constants.append(max(floor_mean, floor_mean / (slots * (1 - math.sqrt(rho)) ** 2)))
    if agents.warm is not None and agents.warm < agents.count:
        constants.append(FILL_TIMES * _mean(agents.spawn))
    if agents.idle_timeout is not None:
        constants.append(agents.idle_timeout)
    if agents.autoscale is not None:
        scale = agents.autoscale
        constants.append(4 * scale.period + scale.stabilization)
    scaler = model.deployment.autoscale if model.deployment is not None else None
    if scaler is not None:
        constants.append(4 * scaler.period + scaler.stabilization + _mean(scaler.start))
    if model.degradation is not None:
        constants.append(4 * model.degradation.interval)
    if model.memory is not None and model.memory.gc is not None:
        constants.append(model.memory.gc.interval)
    return max(constants)


def _mean(dist: Any) -> float:
    return float(dist) if isinstance(dist, int | float) else float(dist.mean())
