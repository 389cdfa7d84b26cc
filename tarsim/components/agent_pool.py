"""The agent pool and the router's waiting room in front of it.

``count`` agents of ``concurrency`` slots each; ``warm`` of them run at t=0 and
more are spawned on demand, each after the spawn latency, up to ``count``. A
request takes one slot for all its steps. Requests that find no free slot wait
in the router's queue (FIFO, or by class priority, lower number first, FIFO
within a priority); ``capacity`` bounds the number *waiting*, not in service.

Free slots are kept as a stack of agent tokens, one per free slot, so that a
request knows which agent serves it at O(1) cost. A released slot is handed
straight to the next waiter, which costs one event and no bookkeeping.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import simpy

from tarsim.components.recorder import Recorder


class Agent:
    """One agent process; requests hold one of its slots."""

    __slots__ = ("id", "up_since")

    def __init__(self, agent_id: int, up_since: float) -> None:
        self.id = agent_id
        self.up_since = up_since


class Waiter:
    """A place in the queue. *event* succeeds with the agent, or with ``None`` when
    the request leaves the queue without a slot (its client gave up)."""

    __slots__ = ("event", "left")

    def __init__(self, event: simpy.Event) -> None:
        self.event = event
        self.left = False


QUEUE_FULL = object()
"""Returned by :meth:`AgentPool.acquire` when the waiting room is full."""


class AgentPool:
    def __init__(
        self,
        env: simpy.Environment,
        *,
        count: int,
        concurrency: int,
        warm: int,
        spawn_latency: Callable[[], float],
        queue_capacity: int | None,
        priority: bool,
        recorder: Recorder,
    ) -> None:
        self.env = env
        self.count = count
        self.concurrency = concurrency
        self.spawn_latency = spawn_latency
        self.queue_capacity = queue_capacity
        self.recorder = recorder
        self.priority = priority
        self._ids = itertools.count()
        self._order = itertools.count()
        self._free: list[Agent] = []
        self._fifo: deque[Waiter] = deque()
        self._heap: list[tuple[int, int, Waiter]] = []
        self.waiting = 0
        """Requests in the queue now (those that left early are not counted)."""
        self.live = 0
        self.spawning = 0
        for _ in range(warm):
            self._agent_up(self._new_agent(spawn=False))

    # ------------------------------------------------------------ slots
    def acquire(self, priority: int) -> Agent | Waiter | object:
        """A free slot's agent now, else a :class:`Waiter` to yield on, else QUEUE_FULL."""
        if self._free and not self.waiting:
            return self._free.pop()
        if self.queue_capacity is not None and self.waiting >= self.queue_capacity:
            return QUEUE_FULL
        waiter = Waiter(self.env.event())
        if self.priority:
            heapq.heappush(self._heap, (priority, next(self._order), waiter))
        else:
            self._fifo.append(waiter)
        self.waiting += 1
        self._spawn_if_needed()
        return waiter

    def release(self, agent: Agent) -> None:
        """Free one of *agent*'s slots: the next waiter gets it, or it becomes free."""
        waiter = self._next_waiter()
        if waiter is None:
            self._free.append(agent)
        else:
            waiter.event.succeed(agent)

    def leave(self, waiter: Waiter) -> bool:
        """Take *waiter* out of the queue (its client gave up); False if it already left."""
        if waiter.left or waiter.event.triggered:
            return False
        waiter.left = True
        self.waiting -= 1
        waiter.event.succeed(None)
        return True

    def _next_waiter(self) -> Waiter | None:
        if self.priority:
            while self._heap:
                waiter = heapq.heappop(self._heap)[2]
                if not waiter.left:
                    self.waiting -= 1
                    return waiter
        else:
            while self._fifo:
                waiter = self._fifo.popleft()
                if not waiter.left:
                    self.waiting -= 1
                    return waiter
        return None

    # ------------------------------------------------------------ lifecycle
    def _spawn_if_needed(self) -> None:
        """Start cold agents while the queue holds more requests than the agents
        already starting will serve, up to ``count``."""
        while (
            self.live + self.spawning < self.count
            and self.waiting > self.spawning * self.concurrency
        ):
            agent = self._new_agent(spawn=True)
            self.spawning += 1
            timer = self.env.timeout(self.spawn_latency())
            timer.callbacks.append(partial(self._spawned, agent))

    def _new_agent(self, *, spawn: bool) -> Agent:
        agent = Agent(next(self._ids), self.env.now)
        if spawn:
            self.recorder.agent(self.env.now, agent.id, "spawn")
        return agent

    def _spawned(self, agent: Agent, _event: simpy.Event | None = None) -> None:
        self.spawning -= 1
        self._agent_up(agent)

    def _agent_up(self, agent: Agent) -> None:
        agent.up_since = self.env.now
        self.live += 1
        self.recorder.agent(self.env.now, agent.id, "up")
        for _ in range(self.concurrency):
            self.release(agent)

    def stats(self) -> dict[str, Any]:
        return {"live": self.live, "spawning": self.spawning, "waiting": self.waiting,
                "free": len(self._free)}
