"""The workload: where requests come from, and of which class.

Open loops (poisson, deterministic, ramp, steps, trace) submit requests at
times that do not depend on the system; a closed loop runs *users* virtual
users that each wait for an answer (or its timeout) and think before the next
request, as Locust and k6 do. Arrivals stop at the horizon.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from tarsim.components.sampling import batched, sampler
from tarsim.components.streams import Streams
from tarsim.config.distributions import is_zero
from tarsim.config.traces import load_trace
from tarsim.config.workload import (
    ClosedArrivals,
    DeterministicArrivals,
    PoissonArrivals,
    RampArrivals,
    StepArrivals,
    TraceArrivals,
    Workload,
)

Submit = Callable[[int], Any]
"""Submits a request of a class index; returns an event that fires when the
client has its answer (for closed loops), or None once arrivals have stopped."""

Proc = Generator[simpy.Event, Any, None]


class LoadGenerator:
    """Submits the requests of one run: at the arrival process's times for an open
    loop, or from ``users`` virtual users that wait for each answer and think
    before the next for a closed loop; each request's class is drawn from the
    class mix (or read from the trace). Arrivals stop at *horizon*."""

    def __init__(self, env: simpy.Environment, spec: Workload, submit: Submit,
                 streams: Streams, horizon: float, base_dir: Any) -> None:
        self.env = env
        self.spec = spec
        self.submit = submit
        self.horizon = horizon
        self.base_dir = base_dir
        self.streams = streams
        self.choose_class = _class_chooser(spec, streams)

    def start(self) -> None:
        arrivals = self.spec.arrivals
        env = self.env
        if isinstance(arrivals, PoissonArrivals):
            gaps = batched(_exponential_gaps(self.streams("workload.arrivals"), arrivals.rate))
            env.process(self._open(gaps))
        elif isinstance(arrivals, DeterministicArrivals):
            env.process(self._open(itertools.repeat(1.0 / arrivals.rate).__next__))
        elif isinstance(arrivals, RampArrivals):
            env.process(self._ramp(arrivals))
        elif isinstance(arrivals, StepArrivals):
            env.process(self._steps(arrivals))
        elif isinstance(arrivals, TraceArrivals):
            env.process(self._trace(arrivals))
        elif isinstance(arrivals, ClosedArrivals):
            think = (
                None if is_zero(arrivals.think_time)
                else sampler(arrivals.think_time, self.streams("workload.think_time"),
                             self.base_dir)
            )
            for _ in range(arrivals.users):
                env.process(self._user(think))
        else:  # pragma: no cover - the config union lists every kind
            raise TypeError(f"unknown arrivals {arrivals!r}")

    # ------------------------------------------------------------ open loops
    def _open(self, gap: Callable[[], float]) -> Proc:
        env, horizon, submit, choose = self.env, self.horizon, self.submit, self.choose_class
        timeout = env.timeout
        while True:
            yield timeout(gap())
            if env.now >= horizon:
                return
            submit(choose())

    def _ramp(self, spec: RampArrivals) -> Proc:
        """Non-homogeneous Poisson by thinning (Lewis and Shedler) at the peak rate."""
        env = self.env
        peak = max(spec.from_, spec.to)
        gaps = batched(_exponential_gaps(self.streams("workload.arrivals"), peak))
        accept = batched(self.streams("workload.thinning").random)
        slope = (spec.to - spec.from_) / spec.over
        while True:
            yield env.timeout(gaps())
            now = env.now
            if now >= self.horizon or (now >= spec.over and spec.to == 0):
                return
            rate = spec.from_ + slope * now if now < spec.over else spec.to
            if accept() * peak < rate:
                self.submit(self.choose_class())

    def _steps(self, spec: StepArrivals) -> Proc:
        """Piecewise-constant Poisson: restart the exponential clock at each change
        (memorylessness makes this exact)."""
        env = self.env
        rng = self.streams("workload.arrivals")
        bounds = [s.at for s in spec.steps[1:]] + [self.horizon]
        for step, until in zip(spec.steps, bounds, strict=True):
            until = min(until, self.horizon)
            if env.now < step.at:
                yield env.timeout(step.at - env.now)
            if step.rate == 0:
                continue
            gaps = batched(_exponential_gaps(rng, step.rate))
            t = env.now
            while True:
                t += gaps()
                if t >= until:
                    break
                yield env.timeout(t - env.now)
                self.submit(self.choose_class())
            if until >= self.horizon:
                return
            if env.now < until:
                yield env.timeout(until - env.now)

    def _trace(self, spec: TraceArrivals) -> Proc:
        env = self.env
        times, classes = load_trace(spec, self.base_dir)
        index = {c.name: i for i, c in enumerate(self.spec.classes)}
        for k, t in enumerate(times.tolist()):
            if t >= self.horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            self.submit(index[classes[k]] if classes is not None else self.choose_class())

    # ------------------------------------------------------------ closed loop
    def _user(self, think: Callable[[], float] | None) -> Proc:
        env = self.env
        while env.now < self.horizon:
            answered = self.submit(self.choose_class())
            if answered is None:
                return
            yield answered
            if think is not None:
                pause = think()
                if pause > 0:
                    yield env.timeout(pause)


def _exponential_gaps(rng: np.random.Generator, rate: float) -> Callable[[int], np.ndarray]:
    mean = 1.0 / rate
    return lambda n: rng.exponential(mean, n)


def _class_chooser(spec: Workload, streams: Streams) -> Callable[[], int]:
    if len(spec.classes) == 1:
        return itertools.repeat(0).__next__
    weights = np.array([c.weight for c in spec.classes], dtype=float)
    weights /= weights.sum()
    rng = streams("workload.classes")
    k = len(weights)
    draw: Any = batched(lambda n: rng.choice(k, size=n, p=weights))  # yields ints
    return draw  # type: ignore[no-any-return]
