"""The agents' lifecycle: spawn, idle stop, crash and restart, scaling to a count.

:class:`AgentLifecycle` brings ``warm`` agents up at t = 0 and spawns more on
demand, each after a ``spawn_latency`` cold start (at most ``max_spawning`` at
once), up to ``count``; the recorder logs each agent's ``spawn`` and ``up``.
:class:`ManagedLifecycle` adds idle stops, crashes and restarts, and scaling to a
target. Neither hands out slots: an agent that comes up is offered to the pool
(:class:`Slots`), which gives its slots to waiters or keeps them free.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import simpy

from tarsim.components.recorder import Recorder
from tarsim.components.slot_meter import SlotMeter
from tarsim.vocabulary import AgentEvent, AgentState


class Agent:
    """One agent process; requests hold one of its slots."""

    __slots__ = ("id", "up_since")

    def __init__(self, agent_id: int, up_since: float) -> None:
        self.id = agent_id
        self.up_since = up_since


class ManagedAgent(Agent):
    """An agent whose slots, requests and state the pool follows one by one."""

    __slots__ = ("busy", "free", "idle_since", "requests", "state")

    def __init__(self, agent_id: int, up_since: float) -> None:
        super().__init__(agent_id, up_since)
        self.busy = 0
        """Slots in use."""
        self.free = 0
        """Slots of this agent in the free stack."""
        self.state = AgentState.STARTING
        self.idle_since = math.nan
        self.requests: dict[Any, simpy.Process] = {}
        """Requests in its slots, and the processes that run them (to fail them on a crash)."""


class Slots(Protocol):
    """What the lifecycle asks of the pool that hands out its agents' slots."""

    def offer(self, agent: Any) -> None:
        """*agent* is up: its slots go to waiters, or become free."""

    def withdraw(self, agent: Any) -> None:
        """*agent* stops taking requests: its free slots are taken back."""


class AgentLifecycle:
    """Agents of ``concurrency`` slots each: ``warm`` up at once, the rest of
    ``count`` spawned on demand while the queue outgrows the starts in progress."""

    def __init__(self, env: simpy.Environment, *, slots: Slots, count: int, concurrency: int,
                 spawn_latency: Callable[[], float], recorder: Recorder,
                 max_spawning: int | None = None, first_id: int = 0) -> None:
        self.env = env
        self.slots = slots
        self.count = count
        self.concurrency = concurrency
        self.spawn_latency = spawn_latency
        self.recorder = recorder
        self.max_spawning = max_spawning
        self._ids = itertools.count(first_id)  # hosts number their agents apart
        self.live = 0
        """Agents up and taking requests."""
        self.spawning = 0
        """Agents wanted but not up yet: cold starts in progress and those waiting
        their turn under ``max_spawning``."""
        self._in_progress = 0
        self._deferred: deque[Agent] = deque()

    def warm(self, n: int) -> None:
        """Bring *n* agents up now, without a cold start."""
        for _ in range(n):
            self.agent_up(self.new_agent())

    def spawn_for(self, waiting: int) -> None:
        """Start cold agents while *waiting* requests outnumber the slots of the
        agents already starting, up to ``count``."""
        while (
            self.live + self.spawning < self.count
            and waiting > self.spawning * self.concurrency
        ):
            self.spawning += 1
            self.start(self.new_agent())

    def new_agent(self) -> Agent:
        return Agent(next(self._ids), self.env.now)

    def start(self, agent: Agent) -> None:
        """Begin *agent*'s cold start now, or when a start in progress ends."""
        if self.max_spawning is not None and self._in_progress >= self.max_spawning:
            self._deferred.append(agent)
            return
        self._in_progress += 1
        self.recorder.agent(self.env.now, agent.id, AgentEvent.SPAWN)
        timer = self.env.timeout(self.spawn_latency())
        timer.callbacks.append(partial(self.spawned, agent))

    def spawned(self, agent: Agent, _event: simpy.Event | None = None) -> None:
        self._in_progress -= 1
        if self._deferred:
            self.start(self._deferred.popleft())
        self.spawning -= 1
        self.agent_up(agent)

    def agent_up(self, agent: Agent) -> None:
        agent.up_since = self.env.now
        self.live += 1
        self.recorder.agent(self.env.now, agent.id, AgentEvent.UP)
        self.slots.offer(agent)


class ManagedLifecycle(AgentLifecycle):
    """The lifecycle with idle stops, crashes and restarts, and scaling to a
    target; it follows each agent's state and tells the memory tracker, when
    there is one, of every agent that comes up, stops or crashes. ``meter`` (the
    pool's slot meter) is set by the pool before any agent comes up."""

    def __init__(self, env: simpy.Environment, *, idle_timeout: float | None = None,
                 autoscaled: bool = False, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.idle_timeout = idle_timeout
        self.autoscaled = autoscaled
        self.memory: Any = None
        """The memory tracker, when memory is modelled (frees an agent's memory)."""
        self.meter: SlotMeter
        self.draining = 0
        self.crashes = 0
        self.agents: dict[int, ManagedAgent] = {}
        self.floor = 0
        """Idle stops never take the pool below its warm count."""

    def warm(self, n: int) -> None:
        super().warm(n)
        self.floor = self.live

    def spawn_for(self, waiting: int) -> None:
        if not self.autoscaled:
            super().spawn_for(waiting)

    def new_agent(self) -> Agent:
        agent = ManagedAgent(next(self._ids), self.env.now)
        self.agents[agent.id] = agent
        return agent

    def spawned(self, agent: Agent, _event: simpy.Event | None = None) -> None:
        assert isinstance(agent, ManagedAgent)
        if agent.state is AgentState.CANCELLED:
            return
        super().spawned(agent)

    def agent_up(self, agent: Agent) -> None:
        assert isinstance(agent, ManagedAgent)
        self.meter.account()
        agent.state = AgentState.UP
        agent.up_since = self.env.now
        self.live += 1
        self.recorder.agent(self.env.now, agent.id, AgentEvent.UP)
        if self.memory is not None and not self.memory.agent_up(agent):
            return  # it crashed at once: the limit leaves no room for it
        self.slots.offer(agent)

    def up(self) -> list[ManagedAgent]:
        """The agents up now."""
        return [a for a in self.agents.values() if a.state is AgentState.UP]

    def idle(self, agent: ManagedAgent) -> None:
        """*agent* has nothing to do: after ``idle_timeout`` it stops, unless it got
        work meanwhile or the pool is at its warm count."""
        if self.idle_timeout is None:
            return
        since = agent.idle_since = self.env.now
        timer = self.env.timeout(self.idle_timeout)

        def expire(_event: simpy.Event) -> None:
            if (agent.state is AgentState.UP and agent.busy == 0 and agent.idle_since == since
                    and self.live > self.floor):
                self.stop(agent)

        timer.callbacks.append(expire)

    def stop(self, agent: ManagedAgent) -> None:
        """Take *agent* out of service; it goes down once its requests are done."""
        self.meter.account()
        self.slots.withdraw(agent)
        self.live -= 1
        if agent.busy == 0:
            self.down(agent)
        else:
            agent.state = AgentState.DRAINING
            self.draining += 1

    def drained(self, agent: ManagedAgent) -> None:
        """A draining *agent* finished its last request."""
        self.draining -= 1
        self.down(agent)

    def down(self, agent: ManagedAgent) -> None:
        agent.state = AgentState.DOWN
        del self.agents[agent.id]
        self.recorder.agent(self.env.now, agent.id, AgentEvent.DOWN)
        if self.memory is not None:
            self.memory.agent_gone(agent)

    def crash(self, agent: ManagedAgent, cause: str) -> None:
        """*agent* dies: its requests fail with *cause* (all but the running process,
        which learns it from the caller), and, unless it was stopping anyway, it
        restarts after a spawn latency, under the same id."""
        self.meter.account()
        self.slots.withdraw(agent)
        was_up = agent.state is AgentState.UP
        if was_up:
            self.live -= 1
        elif agent.state is AgentState.DRAINING:
            self.draining -= 1
        agent.state = AgentState.CRASHED
        self.meter.busy -= agent.busy
        agent.busy = 0
        self.crashes += 1
        self.recorder.agent(self.env.now, agent.id, AgentEvent.CRASH)
        if self.memory is not None:
            self.memory.agent_gone(agent)
        active = self.env.active_process
        for proc in agent.requests.values():
            if proc is not active and proc.is_alive:
                proc.interrupt(cause)
        agent.requests.clear()
        del self.agents[agent.id]
        if was_up:
            restarted = ManagedAgent(agent.id, self.env.now)
            self.agents[agent.id] = restarted
            self.spawning += 1
            self.start(restarted)

    # ------------------------------------------------------------ scaling
    @property
    def wanted(self) -> int:
        """Agents up or starting: what Kubernetes calls the current replicas."""
        return self.live + self.spawning

    def scale_to(self, target: int) -> None:
        """Start or stop agents until *target* are up or starting. Stops call off
        cold starts first (the latest first), then stop the agents with the
        fewest busy slots (the latest among equals), which finish their requests."""
        change = target - self.wanted
        for _ in range(change):
            self.spawning += 1
            self.start(self.new_agent())
        if change >= 0:
            return
        excess = -change
        while excess and self._deferred:
            deferred = self._deferred.pop()
            assert isinstance(deferred, ManagedAgent)
            self._cancel(deferred)
            excess -= 1
        starting = sorted((a for a in self.agents.values() if a.state is AgentState.STARTING
                           and a not in self._deferred), key=lambda a: -a.id)
        for agent in starting[:excess]:
            self._in_progress -= 1
            self._cancel(agent)
            excess -= 1
            if self._deferred:
                self.start(self._deferred.popleft())
        running = sorted((a for a in self.agents.values() if a.state is AgentState.UP),
                         key=lambda a: (a.busy, -a.id))
        for agent in running[:excess]:
            self.stop(agent)

    def _cancel(self, agent: ManagedAgent) -> None:
        agent.state = AgentState.CANCELLED
        self.spawning -= 1
        del self.agents[agent.id]
        self.recorder.agent(self.env.now, agent.id, AgentEvent.CANCEL)
