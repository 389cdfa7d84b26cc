"""Replica autoscaling: the hosts of a deployment scaled by the HPA's rule.

Every ``period`` the :class:`HostScaler` reads its metric over the hosts taking
traffic (time averages over the period: busy agent slots, busy CPU cores,
requests waiting, requests waiting or in service), asks the agents' rule
(:func:`tarsim.components.autoscaler.recommend`) for a raw count and the agents'
:class:`~tarsim.components.autoscaler.ScalingPolicy` for the count after
stabilisation, the scale-up limit and [min, max]. A host added is paid from the
decision and takes traffic once its start time has passed (the pod's
scheduling, image pull and readiness); until then it counts as unready, as the
HPA counts a pod that is not ready. A host removed is a start called off (the
latest first) or, failing that, a host taking traffic with the fewest requests
in progress (the latest among equals): the balancer stops sending it requests,
and it goes, with its agents, when its last request ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import simpy

from tarsim.components.agent_pool import ManagedAgentPool
from tarsim.components.autoscaler import Autoscaler, ScalingPolicy, recommend
from tarsim.components.hosts import Host
from tarsim.components.recorder import Recorder
from tarsim.components.stations import MeteredStation
from tarsim.config.scaling import HOST_RULES, HostAutoscale
from tarsim.vocabulary import HostEvent


class ScaledHost(Host):
    """A host of an autoscaled deployment: it knows when it came up, and, while it
    drains, calls ``on_drained`` when its last request ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._active = 0
        self.on_drained: Callable[[ScaledHost], None] | None = None
        """Set while the host drains."""
        self.up_since = math.nan
        self.autoscaler: Autoscaler | None = None
        """Its agent autoscaler, stopped when the host goes."""
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def active(self) -> int:
        return self._active

    @active.setter
    def active(self, value: int) -> None:
        self._active = value
        if value == 0 and self.on_drained is not None:
            self.on_drained(self)


class HostScaler:
    """Starts, drains and removes hosts by the HPA's rule (see the module);
    *build* makes host *i* (its pool, stations, agent autoscaler), *serve* is told
    the hosts taking traffic after every change."""

    def __init__(self, env: simpy.Environment, spec: HostAutoscale, *, initial: int,
                 build: Callable[[int], ScaledHost], serve: Callable[[list[Host]], None],
                 start_time: Callable[[], float], recorder: Recorder) -> None:
        self.env = env
        self.spec = spec
        self.build = build
        self.serve = serve
        self.start_time = start_time
        self.recorder = recorder
        self.policy = ScalingPolicy(spec, spec.max)
        self.rule = HOST_RULES[spec.metric]
        self.serving: list[ScaledHost] = []
        """Hosts taking traffic, in the order they came up."""
        self.pending: list[int] = []
        """Hosts starting, in the order they were decided."""
        self._cancelled: set[int] = set()
        self._next = 0
        self._last: dict[int, tuple[float, float, float]] = {}
        for _ in range(initial):
            index = self._start()
            self._up(index)
        env.process(self._run())

    @property
    def wanted(self) -> int:
        """Hosts taking traffic or starting: the HPA's current replicas."""
        return len(self.serving) + len(self.pending)

    # ------------------------------------------------------------ the metric
    def _areas(self, host: ScaledHost) -> tuple[float, float, float]:
        """Time integrals up to now of what the metric averages: busy slots (busy
        cores for ``cpu``), their capacity, and requests waiting."""
        pool = host.pool
        assert isinstance(pool, ManagedAgentPool)
        busy, capacity, waiting = pool.areas()
        if self.spec.metric == "cpu":
            cpu = host.cpu
            assert isinstance(cpu, MeteredStation)
            busy, capacity = cpu.busy_area(), cpu.cores * (self.env.now - host.up_since)
        return busy, capacity, waiting

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env, spec = self.env, self.spec
        period = spec.period
        while True:
            yield env.timeout(period)
            busy = capacity = waiting = 0.0
            for host in self.serving:
                now = self._areas(host)
                # a host that came up within the period: its integrals start then
                before = self._last.get(host.index, (0.0, 0.0, 0.0))
                self._last[host.index] = now
                busy += (now[0] - before[0]) / period
                capacity += (now[1] - before[1]) / period
                waiting += (now[2] - before[2]) / period
            usage = {"utilization": busy, "queue": waiting,
                     "queue_per_agent": waiting + busy}[self.rule]
            current = self.wanted
            recommended = recommend(
                self.rule, target=spec.target, tolerance=spec.tolerance, current=current,
                ready=len(self.serving), unready=len(self.pending), usage=usage,
                capacity=capacity)
            desired = self.policy.decide(env.now, current, recommended)
            metric = busy / capacity if self.rule == "utilization" and capacity else usage
            self.recorder.host_scale(env.now, metric, current, recommended, desired)
            if desired > current:
                for _ in range(desired - current):
                    index = self._start()
                    timer = env.timeout(self.start_time())
                    timer.callbacks.append(partial(self._up, index))
            elif desired < current:
                self._scale_down(current - desired)

    # ------------------------------------------------------------ lifecycle
    def _start(self) -> int:
        index = self._next
        self._next += 1
        self.pending.append(index)
        self.recorder.host(self.env.now, index, HostEvent.START)
        return index

    def _up(self, index: int, _event: simpy.Event | None = None) -> None:
        if index in self._cancelled:
            self._cancelled.discard(index)
            return
        self.pending.remove(index)
        host = self.build(index)
        host.up_since = self.env.now
        self.serving.append(host)
        self.recorder.host(self.env.now, index, HostEvent.UP)
        self.serve(list(self.serving))

    def _scale_down(self, excess: int) -> None:
        while excess and self.pending:
            index = self.pending.pop()
            self._cancelled.add(index)
            self.recorder.host(self.env.now, index, HostEvent.CANCEL)
            excess -= 1
        if not excess:
            return
        for host in sorted(self.serving, key=lambda h: (h.active, -h.index))[:excess]:
            self.serving.remove(host)
            self._last.pop(host.index, None)
            self.recorder.host(self.env.now, host.index, HostEvent.DRAIN)
            if host.active:
                host.on_drained = self._remove
            else:
                self._remove(host)
        self.serve(list(self.serving))

    def _remove(self, host: ScaledHost) -> None:
        """*host* drained: it goes, and its agents stop."""
        host.on_drained = None
        if host.autoscaler is not None:
            host.autoscaler.stop()
        pool = host.pool
        assert isinstance(pool, ManagedAgentPool)
        pool.scale_to(0)
        if host.memory is not None:
            host.memory.recorder.gone(self.env.now)
        self.recorder.host(self.env.now, host.index, HostEvent.DOWN)
