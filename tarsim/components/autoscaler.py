"""Autoscaling: the Kubernetes HPA rule (and KEDA's queue rule) deciding how many
agents to run, every period; the host autoscaler
(:mod:`tarsim.components.host_scaler`) decides by the same rule and policy.

The arithmetic follows the HPA controller (docs/sources.md §6): a raw
recommendation from the metric (:func:`recommend`), no change while the ratio to
the target is within the tolerance; then :class:`ScalingPolicy` stabilises
scale-down (the highest recommendation of the last ``stabilization`` seconds),
limits scale-up to the larger of +percent % and +pods over the count one policy
period ago, and clamps to [min, max]. New agents pay the spawn latency; the
pool stops agents that are no longer wanted once their requests are done.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import Any

import simpy

from tarsim.components.agent_pool import ManagedAgentPool
from tarsim.components.recorder import Recorder
from tarsim.config.scaling import Autoscale, ScalingRule


def recommend(metric: str, *, target: float, tolerance: float, current: int, ready: int,
              unready: int, usage: float, capacity: float = 0.0) -> int:
    """The HPA's raw replica count for one look.

    *current* is the replica count (agents up or starting), *ready* those up,
    *unready* those starting. For ``utilization`` *usage* is busy slots and
    *capacity* the slots of ready agents (both averaged over the period); for
    ``queue`` *usage* is the requests waiting; for ``queue_per_agent`` the
    requests waiting or in service.
    """
    if metric == "queue_per_agent":
        # KEDA's trigger is an AverageValue external metric: ratio over current replicas
        if abs(usage / (target * current) - 1.0) <= tolerance:
            return current
        return math.ceil(usage / target)
    if metric == "queue":
        # an object metric with a Value target: scaled by the ready replicas
        ratio = usage / target
        if abs(ratio - 1.0) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    if capacity <= 0:
        return current  # no ready agent reported a metric: the HPA does nothing
    utilization = usage / capacity
    ratio = utilization / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    if ratio > 1.0 and unready:
        # scale-up with agents still starting: count them at 0 %, and give up if
        # that brings the ratio within tolerance or reverses its direction
        ratio = utilization * ready / (ready + unready) / target
        if abs(ratio - 1.0) <= tolerance or ratio < 1.0:
            return current
        return math.ceil(ratio * (ready + unready))
    return math.ceil(ratio * ready)


class ScalingPolicy:
    """Stabilisation, rate limit and bounds over a sequence of recommendations."""

    def __init__(self, spec: ScalingRule, maximum: int) -> None:
        self.spec = spec
        self.maximum = maximum
        self.recommendations: deque[tuple[float, int]] = deque()
        self.scale_ups: deque[tuple[float, int]] = deque()

    def decide(self, now: float, current: int, recommended: int) -> int:
        spec = self.spec
        # the highest recommendation strictly inside the window (now - W, now], this one included
        recs = self.recommendations
        while recs and recs[0][0] <= now - spec.stabilization:
            recs.popleft()
        down = max([r for _, r in recs] + [recommended])
        recs.append((now, recommended))
        stabilized = current
        if recommended > current:
            stabilized = recommended
        elif down < current:
            stabilized = down
        # scale-up limit relative to the count at the start of the policy period
        ups = self.scale_ups
        limit = spec.scale_up
        while ups and ups[0][0] <= now - limit.period:
            ups.popleft()
        start = current - sum(n for _, n in ups)
        up_limit = max(math.ceil(start * (1 + limit.percent / 100)), start + limit.pods)
        highest = min(max(up_limit, current), self.maximum)
        desired = max(min(stabilized, highest), spec.min)
        if desired > current:
            ups.append((now, desired - current))
        return desired


class Autoscaler:
    """Every ``period``, reads the pool's averages over the period, decides, and
    scales the pool; each decision goes to the recorder."""

    def __init__(self, env: simpy.Environment, spec: Autoscale, pool: ManagedAgentPool,
                 maximum: int, recorder: Recorder) -> None:
        self.env = env
        self.spec = spec
        self.pool = pool
        self.recorder = recorder
        self.policy = ScalingPolicy(spec, maximum)
        self.stopped = False
        env.process(self._run())

    def stop(self) -> None:
        """Decide no more (the host the pool runs on is gone)."""
        self.stopped = True

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env, pool, spec = self.env, self.pool, self.spec
        last = pool.areas()
        while True:
            yield env.timeout(spec.period)
            if self.stopped:
                return
            now_areas = pool.areas()
            busy, capacity, waiting = (
                (b - a) / spec.period for a, b in zip(last, now_areas, strict=True))
            last = now_areas
            usage = {"utilization": busy, "queue": waiting,
                     "queue_per_agent": waiting + busy}[spec.metric]
            current = pool.wanted
            recommended = recommend(
                spec.metric, target=spec.target, tolerance=spec.tolerance, current=current,
                ready=pool.live, unready=pool.spawning, usage=usage, capacity=capacity)
            desired = self.policy.decide(env.now, current, recommended)
            metric = busy / capacity if spec.metric == "utilization" and capacity else usage
            self.recorder.scale(env.now, metric, current, recommended, desired)
            if desired != current:
                pool.scale_to(desired)
