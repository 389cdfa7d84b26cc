"""Load-dependent, processor-shared stations: where congestion lives.

A station serves every job present at once. With n present its total service
rate is mu(n) work-seconds per second, shared equally, so each job's remaining
work shrinks at mu(n) / n. The share changes at every arrival and departure, and
the station follows it exactly: it keeps a virtual clock V that advances at
mu(n) / n, each job finishes when V reaches its start value plus its work (a heap
of finish values), and every arrival or departure reschedules the next
completion (a stale wake-up is recognised by its generation number and ignored).
That is processor sharing (cores: mu(n) = min(n, c)), and with a general mu(n)
the load-dependent station of product-form queueing networks.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import simpy

from tarsim.components.curves import Curve
from tarsim.config.deployment import Congestion


def rate_function(spec: Congestion) -> Callable[[int], float]:
    """mu(n): the station's total service rate with n jobs present (n >= 1)."""
    if spec.rates is not None:
        return Curve([(float(x), float(y)) for x, y in spec.rates])
    cores = math.inf if spec.cores is None else float(spec.cores)
    sigma, kappa = spec.contention, spec.coherence

    def usl(n: int) -> float:
        return min(n, cores) / (1.0 + sigma * (n - 1) + kappa * n * (n - 1))
    return usl


class Job:
    """One job at a station; *done* succeeds with True when its work is served, or
    with False when its deadline passes first (it is then withdrawn)."""

    __slots__ = ("alive", "deadline", "done", "finish")

    def __init__(self, finish: float, done: simpy.Event, deadline: float) -> None:
        self.finish = finish
        self.done = done
        self.deadline = deadline
        self.alive = True

    def __lt__(self, other: Job) -> bool:
        return self.finish < other.finish


TOLERANCE = 1e-9
"""Relative slack on the virtual clock: a job within it of its finish is served
(float rounding must not leave a job a zero-length wake-up away)."""


class Station:
    """A processor-shared station with a load-dependent total rate (see module).

    Wake-ups are lazy: an arrival that only delays the next completion keeps the
    pending wake-up, which then finds nothing finished and sets the next one; only
    a change that brings the next event forward schedules a new wake-up.
    """

    def __init__(self, env: simpy.Environment, spec: Congestion, name: str = "") -> None:
        self.env = env
        self.name = name
        self.rate = rate_function(spec)
        overload = spec.overload
        self.overload_max = 0.0 if overload is None else overload.max
        self.overload_half = 1.0 if overload is None else overload.half
        self.overload_onset = 0.0 if overload is None else overload.onset
        self.present = 0
        """Jobs being served now."""
        self._heap: list[Job] = []
        self._deadlines: list[tuple[float, int, Job]] = []
        self._order = 0
        self._virtual = 0.0
        self._since = 0.0
        self._generation = 0
        self._wake_at = math.inf

    def overload_probability(self, n: int) -> float:
        """Probability that an attempt finding *n* present (itself included) fails
        with an overload error."""
        others = n - 1 - self.overload_onset
        if self.overload_max <= 0 or others <= 0:
            return 0.0
        return self.overload_max * others / (others + self.overload_half)

    def _advance(self) -> None:
        now = self.env.now
        n = self.present
        if n:
            self._virtual += (now - self._since) * self.rate(n) / n
        self._since = now

    def serve(self, work: float, patience: float = math.inf) -> Job:
        """Start serving *work* seconds of work; the job's ``done`` event succeeds with
        True when it is served, or with False after *patience* seconds unserved."""
        self._advance()
        now = self.env.now
        job = Job(self._virtual + work, self.env.event(), now + patience)
        heapq.heappush(self._heap, job)
        if patience < math.inf:
            self._order += 1
            heapq.heappush(self._deadlines, (job.deadline, self._order, job))
        self.present += 1
        self._schedule()
        return job

    def leave(self, job: Job) -> None:
        """Withdraw *job* before it is served (its caller stopped waiting)."""
        if not job.alive:
            return
        self._advance()
        job.alive = False
        self.present -= 1
        self._schedule()

    def _schedule(self) -> None:
        heap, deadlines = self._heap, self._deadlines
        while heap and not heap[0].alive:
            heapq.heappop(heap)
        while deadlines and not deadlines[0][2].alive:
            heapq.heappop(deadlines)
        now = self.env.now
        wake = math.inf
        if heap:
            n = self.present
            wake = now + max(0.0, (heap[0].finish - self._virtual) * n / self.rate(n))
        if deadlines:
            wake = min(wake, deadlines[0][0])
        if wake >= self._wake_at:
            return  # the pending wake-up comes first and will look again
        self._wake_at = wake
        self._generation += 1
        generation = self._generation
        timer = self.env.timeout(max(0.0, wake - now))
        timer.callbacks.append(lambda _event: self._complete(generation))

    def _complete(self, generation: int) -> None:
        if generation != self._generation:
            return  # superseded by an earlier wake-up
        self._wake_at = math.inf
        self._advance()
        heap = self._heap
        limit = self._virtual + TOLERANCE * max(1.0, abs(self._virtual))
        served = []
        while heap and (not heap[0].alive or heap[0].finish <= limit):
            job = heapq.heappop(heap)
            if job.alive:
                served.append(job)
        for job in served:
            job.alive = False
            self.present -= 1
            job.done.succeed(True)
        deadlines = self._deadlines
        now = self.env.now
        while deadlines and (not deadlines[0][2].alive or deadlines[0][0] <= now):
            job = heapq.heappop(deadlines)[2]
            if job.alive:
                job.alive = False
                self.present -= 1
                job.done.succeed(False)
        self._schedule()


class MeteredStation(Station):
    """A station that also keeps the time integral of its busy cores, min(n, cores):
    what the host autoscaler's ``cpu`` metric averages. A separate class, so that
    stations nobody meters pay nothing for it."""

    def __init__(self, env: simpy.Environment, spec: Congestion, name: str = "") -> None:
        super().__init__(env, spec, name)
        assert spec.cores is not None
        self.cores = spec.cores
        self._busy_area = 0.0

    def _advance(self) -> None:
        self._busy_area += (self.env.now - self._since) * min(self.present, self.cores)
        super()._advance()

    def busy_area(self) -> float:
        """Core-seconds busy from the start up to now."""
        return self._busy_area + (self.env.now - self._since) * min(self.present, self.cores)
