"""Hosts (replicas, pods) behind a load balancer.

Each host has its own agent pool (with the router's queue in front of it), its
own memory tracker, CPU and call station (load-dependent stations, see
:mod:`tarsim.components.stations`), connection pool and region. The balancer
picks a host for each arriving request: in turn, at random, the host with the
fewest requests in progress (ties broken in turn), or the less busy of two
drawn at random (the power of two choices). A model without a deployment
section is one host with no CPU, call station or connection pool, so its
requests take the same path as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from tarsim.components.agent_pool import AgentPool
from tarsim.components.recorder import Recorder
from tarsim.components.sampling import Draw
from tarsim.components.stations import Station
from tarsim.vocabulary import Balancer

AGENT_ID_STRIDE = 1 << 20
"""Host i numbers its agents from i * stride, so agent ids are unique in a run."""


class Host:
    """One replica: its pool, stations and region; *active* counts the requests it
    is serving or queueing (what least-connections balancing reads)."""

    def __init__(self, index: int, region: str, pool: AgentPool, *,
                 cpu: Station | None = None, calls: Station | None = None,
                 connections: simpy.Resource | None = None,
                 network: dict[str, Draw] | None = None) -> None:
        self.index = index
        self.region = region
        self.pool = pool
        self.cpu = cpu
        """Router and role work are processor-shared here; None: a pure delay."""
        self.calls = calls
        """Every API attempt this host makes is served here; None: no host congestion."""
        self.connections = connections
        self.network = network or {}
        """Network latency draw to each provider from this host's region."""
        self.memory: Any = None
        self.active = 0


class HostMemory:
    """What a host's memory tracker writes to: the deployment's total, so the run's
    memory series is the sum over hosts (each host still has its own limit)."""

    def __init__(self, recorder: Recorder, levels: list[float], index: int) -> None:
        self.recorder = recorder
        self.levels = levels
        self.index = index

    def memory_level(self, t: float, total_bytes: float) -> None:
        levels = self.levels
        levels[self.index] = total_bytes
        self.recorder.memory_level(t, sum(levels))

    def gone(self, t: float) -> None:
        """The host is gone (scaled down): its memory leaves the total, and whatever
        its tracker reports from now on (a collector still running) is ignored."""
        self.memory_level(t, 0.0)
        # shadows the method for this instance only: other hosts pay nothing for it
        self.memory_level = _ignore  # type: ignore[method-assign]


def _ignore(t: float, total_bytes: float) -> None:
    """What a gone host's memory reports go to."""


def balancer(policy: str, hosts: list[Host],
             rng: np.random.Generator | None) -> Callable[[], Host]:
    """The host choice for each new request under *policy* (*rng*: needed for more
    than one host)."""
    if len(hosts) == 1:
        only = hosts[0]
        return lambda: only
    assert rng is not None
    count = len(hosts)
    turn = [0]
    if policy == Balancer.ROUND_ROBIN:
        def round_robin() -> Host:
            host = hosts[turn[0]]
            turn[0] = (turn[0] + 1) % count
            return host
        return round_robin
    if policy == Balancer.RANDOM:
        def random() -> Host:
            return hosts[int(rng.integers(count))]
        return random
    if policy == Balancer.LEAST_CONNECTIONS:
        def least_connections() -> Host:
            start = turn[0]
            turn[0] = (start + 1) % count
            best = hosts[start]
            for k in range(1, count):
                host = hosts[(start + k) % count]
                if host.active < best.active:
                    best = host
            return best
        return least_connections
    if policy == Balancer.POWER_OF_TWO:
        def power_of_two() -> Host:
            i = int(rng.integers(count))
            j = int(rng.integers(count - 1))
            j += j >= i
            a, b = hosts[i], hosts[j]
            return b if b.active < a.active else a
        return power_of_two
    raise ValueError(f"unknown balancer {policy!r}")
