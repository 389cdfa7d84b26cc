"""The agent pool: hands requests the slots of the agents, and puts them in the
router's waiting room when none is free.

The pool is a facade over three parts: a waiting room (its discipline, capacity
and shedding: :mod:`tarsim.components.waiting_room`), an agent lifecycle (spawn,
idle stop, crash, scaling: :mod:`tarsim.components.agent_lifecycle`) and, for the
managed pool, a slot meter (busy slots and the integrals the autoscaler averages:
:mod:`tarsim.components.slot_meter`). The pool itself keeps the free slots and
hands them out.

Free slots are kept as a stack of agent tokens, one per free slot, so that a
request knows which agent serves it at O(1) cost. A released slot is handed
straight to the next waiter, which costs one event and no bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from tarsim.components.agent_lifecycle import Agent, AgentLifecycle, ManagedAgent, ManagedLifecycle
from tarsim.components.recorder import Recorder
from tarsim.components.slot_meter import SlotMeter
from tarsim.components.waiting_room import (
    NO_ROOM,
    TURNED_AWAY,
    ManagedWaiter,
    SheddingRoom,
    Waiter,
    WaitingRoom,
)
from tarsim.vocabulary import AgentState

__all__ = ["NO_ROOM", "TURNED_AWAY", "Agent", "AgentPool", "ManagedAgent", "ManagedAgentPool",
           "ManagedWaiter", "Waiter"]


class AgentPool:
    """Agents of ``concurrency`` slots each, and the router's queue in front of them.

    :meth:`acquire` hands a request a free slot's agent, or a :class:`Waiter` to
    yield on (first come first served, or by priority), or ``NO_ROOM`` when the
    queue is at ``queue_capacity``; :meth:`release` gives the slot to the next
    waiter. ``warm`` agents are up at t = 0; the rest of ``count`` are spawned on
    demand after a ``spawn_latency`` cold start (at most ``max_spawning`` at once),
    and the recorder logs each agent's ``spawn`` and ``up``."""

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
        max_spawning: int | None = None,
        first_id: int = 0,
    ) -> None:
        self.env = env
        self.recorder = recorder
        self._free: list[Agent] = []
        self.room = self._room(queue_capacity, priority)
        self.agents = self._lifecycle(count=count, concurrency=concurrency,
                                      spawn_latency=spawn_latency, recorder=recorder,
                                      max_spawning=max_spawning, first_id=first_id)
        self._wire()
        self.agents.warm(warm)

    def _room(self, capacity: int | None, priority: bool) -> WaitingRoom:
        return WaitingRoom(self.env, capacity=capacity, priority=priority)

    def _lifecycle(self, **kwargs: Any) -> AgentLifecycle:
        return AgentLifecycle(self.env, slots=self, **kwargs)

    def _wire(self) -> None:
        """Connect the parts before the first agent comes up."""

    # ------------------------------------------------------------ levels
    @property
    def waiting(self) -> int:
        """Requests in the queue now (those that left early are not counted)."""
        return self.room.waiting

    @property
    def live(self) -> int:
        """Agents up and taking requests."""
        return self.agents.live

    @property
    def spawning(self) -> int:
        """Agents wanted but not up yet."""
        return self.agents.spawning

    @property
    def concurrency(self) -> int:
        return self.agents.concurrency

    def stats(self) -> dict[str, Any]:
        return {"live": self.live, "spawning": self.spawning, "waiting": self.waiting,
                "free": len(self._free)}

    # ------------------------------------------------------------ slots
    def acquire(self, priority: int) -> Agent | Waiter | object:
        """A free slot's agent now, else a :class:`Waiter` to yield on, else NO_ROOM."""
        room = self.room
        if self._free and not room.waiting:
            return self._free.pop()
        if room.capacity is not None and room.waiting >= room.capacity:  # the room is full
            return NO_ROOM
        waiter = room.join(priority)
        self.agents.spawn_for(room.waiting)
        return waiter

    def acquire_child(self, priority: int) -> Agent | Waiter | object:
        """As :meth:`acquire`, for a parallel step of a request already in a slot: it
        waits at the head of the queue, ahead of new requests, so that callers
        holding slots at a join are not starved by the requests behind them."""
        got = self.acquire(priority)
        if isinstance(got, Waiter):
            self.room.to_front(got)
        return got

    def release(self, agent: Agent) -> None:
        """Free one of *agent*'s slots: the next waiter gets it, or it becomes free."""
        waiter = self.room.next()
        if waiter is None:
            self._free.append(agent)
        else:
            waiter.event.succeed(agent)

    def leave(self, waiter: Waiter) -> bool:
        """Take *waiter* out of the queue (its client gave up); False if it already left."""
        return self.room.leave(waiter)

    def offer(self, agent: Agent) -> None:
        """*agent* came up: each of its slots goes to a waiter or becomes free."""
        for _ in range(self.agents.concurrency):
            self.release(agent)

    def withdraw(self, agent: Agent) -> None:
        """The plain pool never takes an agent out of service."""


AGENT_UP, AGENT_DRAINING = AgentState.UP, AgentState.DRAINING
"""Bound once for :meth:`ManagedAgentPool.release`, run for every request: a module
global is read several times faster than an enum member."""


class ManagedAgentPool(AgentPool):
    """The agent pool with an agent lifecycle: idle stops, crashes and restarts,
    scaling to a count, lowered concurrency, and backpressure on the queue.

    Used in place of :class:`AgentPool` only when a model needs one of these, so
    the plain pool's per-request path stays as short as it is. Each agent knows
    its busy slots; a slot released by an agent that should offer fewer (it is
    draining, or concurrency was lowered) is dropped instead of reused. Its slot
    meter keeps the time integrals of busy slots, capacity and queue length that
    the autoscaler averages.
    """

    room: SheddingRoom
    agents: ManagedLifecycle

    def __init__(
        self,
        env: simpy.Environment,
        *,
        idle_timeout: float | None = None,
        autoscaled: bool = False,
        shed_depth: int | None = None,
        shed_wait: float | None = None,
        shed_policy: str = "reject",
        **kwargs: Any,
    ) -> None:
        self._lifecycle_args: dict[str, Any] = {"idle_timeout": idle_timeout,
                                                "autoscaled": autoscaled}
        self._shed_args: dict[str, Any] = {"shed_depth": shed_depth, "shed_wait": shed_wait,
                                           "shed_policy": shed_policy}
        super().__init__(env, **kwargs)

    def _room(self, capacity: int | None, priority: bool) -> WaitingRoom:
        return SheddingRoom(self.env, capacity=capacity, priority=priority, **self._shed_args)

    def _lifecycle(self, **kwargs: Any) -> AgentLifecycle:
        return ManagedLifecycle(self.env, slots=self, **self._lifecycle_args, **kwargs)

    def _wire(self) -> None:
        self.meter = SlotMeter(self.env, self.agents, self.room)
        self.agents.meter = self.meter

    # ------------------------------------------------------------ levels
    @property
    def shed_above(self) -> int | None:
        """Set by a degraded mode: requests with a larger priority number are shed."""
        return self.room.shed_above

    @shed_above.setter
    def shed_above(self, value: int | None) -> None:
        self.room.shed_above = value

    @property
    def busy(self) -> int:
        return self.meter.busy

    @property
    def wanted(self) -> int:
        """Agents up or starting: what Kubernetes calls the current replicas."""
        return self.agents.wanted

    def areas(self) -> tuple[float, float, float]:
        """The time integrals, up to now, of busy slots, slot capacity (agents up
        times concurrency) and requests waiting: the autoscaler's metrics are their
        differences over its period."""
        return self.meter.areas()

    def follow_memory(self, tracker: Any) -> list[ManagedAgent]:
        """Tell *tracker* (a memory tracker) of every agent that comes up, stops or
        crashes from now on; the agents up now, which it must take in itself."""
        self.agents.memory = tracker
        return self.agents.up()

    # ------------------------------------------------------------ slots
    def acquire(self, priority: int) -> Agent | Waiter | object:
        room = self.room
        if room.shed_above is not None and priority > room.shed_above:
            return TURNED_AWAY
        meter = self.meter
        meter.account()
        if self._free and not room.waiting:
            agent: ManagedAgent = self._free.pop()  # type: ignore[assignment]
            agent.free -= 1
            agent.busy += 1
            meter.busy += 1
            return agent
        if room.shed_depth is not None or room.shed_wait is not None:
            shed = room.shed_for(priority)
            if isinstance(shed, ManagedWaiter):
                self.leave(shed, TURNED_AWAY)
            elif shed is TURNED_AWAY:
                return TURNED_AWAY
        if room.capacity is not None and room.waiting >= room.capacity:  # the room is full
            return NO_ROOM
        waiter = room.join(priority)
        self.agents.spawn_for(room.waiting)
        return waiter

    def release(self, agent: Agent) -> None:
        assert isinstance(agent, ManagedAgent)
        meter = self.meter
        meter.account()
        if agent.state is AGENT_UP and agent.busy + agent.free <= self.agents.concurrency:
            waiter = self.room.next()
            if waiter is not None:
                waiter.event.succeed(agent)
                return
            agent.busy -= 1
            meter.busy -= 1
            agent.free += 1
            self._free.append(agent)
            if agent.busy == 0:
                self.agents.idle(agent)
            return
        # a slot the agent should no longer offer: drop it
        agent.busy -= 1
        meter.busy -= 1
        if agent.state is AGENT_DRAINING and agent.busy == 0:
            self.agents.drained(agent)

    def leave(self, waiter: Waiter, reason: object = None) -> bool:
        """Take *waiter* out of the queue: its client gave up (*reason* None) or
        it was shed (*reason* TURNED_AWAY)."""
        if waiter.left or waiter.event.triggered:
            return False
        self.meter.account()
        return self.room.leave(waiter, reason)

    def offer(self, agent: Agent) -> None:
        assert isinstance(agent, ManagedAgent)
        meter = self.meter
        for _ in range(self.agents.concurrency):
            agent.busy += 1  # release() takes the slot back from a notional holder
            meter.busy += 1
            self.release(agent)
        if agent.busy == 0:
            self.agents.idle(agent)

    def withdraw(self, agent: Agent) -> None:
        assert isinstance(agent, ManagedAgent)
        if agent.free:
            self._free = [a for a in self._free if a is not agent]
            agent.free = 0

    def attach(self, agent: ManagedAgent, req: Any, proc: simpy.Process) -> bool:
        """Note that *req* runs in *agent*; False if the agent crashed before the
        request could start."""
        if agent.state is AgentState.CRASHED:
            return False
        agent.requests[req] = proc
        return True

    def detach(self, agent: ManagedAgent, req: Any) -> None:
        del agent.requests[req]

    def shed_waiting(self, above: int) -> int:
        """Shed every waiting request whose priority number is above *above*."""
        shed = 0
        for waiter in self.room.above(above):
            if self.leave(waiter, TURNED_AWAY):
                shed += 1
        return shed

    # ------------------------------------------------------------ lifecycle
    def crash(self, agent: ManagedAgent, cause: str) -> None:
        """*agent* dies: see :meth:`ManagedLifecycle.crash`."""
        self.agents.crash(agent, cause)

    def scale_to(self, target: int) -> None:
        """Start or stop agents until *target* are up or starting: see
        :meth:`ManagedLifecycle.scale_to`."""
        self.agents.scale_to(target)

    def set_concurrency(self, concurrency: int) -> None:
        """Serve at most *concurrency* requests per agent from now on: fewer free
        slots at once, busy slots dropped as they are released; or more slots."""
        self.meter.account()
        agents = self.agents
        old, agents.concurrency = agents.concurrency, concurrency
        if concurrency < old:
            keep: list[Agent] = []
            for agent in reversed(self._free):
                assert isinstance(agent, ManagedAgent)
                if agent.busy + agent.free > concurrency:
                    agent.free -= 1
                else:
                    keep.append(agent)
            self._free = keep[::-1]
            return
        meter = self.meter
        for agent in list(agents.agents.values()):
            if agent.state is AgentState.UP:
                for _ in range(concurrency - agent.busy - agent.free):
                    agent.busy += 1
                    meter.busy += 1
                    self.release(agent)
