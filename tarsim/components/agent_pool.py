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
import math
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import simpy

from tarsim.components.recorder import Recorder
from tarsim.vocabulary import AgentEvent, AgentState


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


NO_ROOM = object()
"""Returned by :meth:`AgentPool.acquire` when the waiting room is full."""


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
        """Agents up and taking requests."""
        self.spawning = 0
        """Agents wanted but not up yet: cold starts in progress and those waiting
        their turn under ``max_spawning``."""
        self.max_spawning = max_spawning
        self._in_progress = 0
        self._deferred: deque[Agent] = deque()
        for _ in range(warm):
            self._agent_up(self._new_agent())

    # ------------------------------------------------------------ slots
    def acquire(self, priority: int) -> Agent | Waiter | object:
        """A free slot's agent now, else a :class:`Waiter` to yield on, else NO_ROOM."""
        if self._free and not self.waiting:
            return self._free.pop()
        if self.queue_capacity is not None and self.waiting >= self.queue_capacity:
            return NO_ROOM
        waiter = Waiter(self.env.event())
        if self.priority:
            heapq.heappush(self._heap, (priority, next(self._order), waiter))
        else:
            self._fifo.append(waiter)
        self.waiting += 1
        self._spawn_if_needed()
        return waiter

    def acquire_child(self, priority: int) -> Agent | Waiter | object:
        """As :meth:`acquire`, for a parallel step of a request already in a slot: it
        waits at the head of the queue, ahead of new requests, so that callers
        holding slots at a join are not starved by the requests behind them."""
        got = self.acquire(priority)
        if isinstance(got, Waiter):
            if self.priority:
                heap = self._heap
                at = next(i for i, entry in enumerate(heap) if entry[2] is got)
                heap[at] = (-math.inf, heap[at][1], got)  # type: ignore[assignment]
                heapq.heapify(heap)
            else:
                self._fifo.pop()  # acquire() has just put it last
                self._fifo.appendleft(got)
        return got

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
            self.spawning += 1
            self._start(self._new_agent())

    def _new_agent(self) -> Agent:
        return Agent(next(self._ids), self.env.now)

    def _start(self, agent: Agent) -> None:
        """Begin *agent*'s cold start now, or when a start in progress ends."""
        if self.max_spawning is not None and self._in_progress >= self.max_spawning:
            self._deferred.append(agent)
            return
        self._in_progress += 1
        self.recorder.agent(self.env.now, agent.id, AgentEvent.SPAWN)
        timer = self.env.timeout(self.spawn_latency())
        timer.callbacks.append(partial(self._spawned, agent))

    def _spawned(self, agent: Agent, _event: simpy.Event | None = None) -> None:
        self._in_progress -= 1
        if self._deferred:
            self._start(self._deferred.popleft())
        self.spawning -= 1
        self._agent_up(agent)

    def _agent_up(self, agent: Agent) -> None:
        agent.up_since = self.env.now
        self.live += 1
        self.recorder.agent(self.env.now, agent.id, AgentEvent.UP)
        for _ in range(self.concurrency):
            self.release(agent)

    def stats(self) -> dict[str, Any]:
        return {"live": self.live, "spawning": self.spawning, "waiting": self.waiting,
                "free": len(self._free)}


# ---------------------------------------------------------------- managed pool

AGENT_UP, AGENT_DRAINING = AgentState.UP, AgentState.DRAINING
"""Bound once for :meth:`ManagedAgentPool.release`, run for every request: a module
global is read several times faster than an enum member."""

TURNED_AWAY = object()
"""Returned by :meth:`ManagedAgentPool.acquire`, and given to a waiter shed from the
queue: backpressure or a degraded mode turned the request away."""


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


class ManagedWaiter(Waiter):
    __slots__ = ("priority", "since")

    def __init__(self, event: simpy.Event, priority: int, since: float) -> None:
        super().__init__(event)
        self.priority = priority
        self.since = since


class ManagedAgentPool(AgentPool):
    """The agent pool with an agent lifecycle: idle stops, crashes and restarts,
    scaling to a count, lowered concurrency, and backpressure on the queue.

    Used in place of :class:`AgentPool` only when a model needs one of these, so
    the plain pool's per-request path stays as short as it is. Each agent knows
    its busy slots; a slot released by an agent that should offer fewer (it is
    draining, or concurrency was lowered) is dropped instead of reused. It also
    keeps the time integrals of busy slots, capacity and queue length that the
    autoscaler averages.
    """

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
        self.idle_timeout = idle_timeout
        self.autoscaled = autoscaled
        self.shed_depth = shed_depth
        self.shed_wait = shed_wait
        self.shed_lowest = shed_policy == "lowest"
        self.shed_above: int | None = None
        """Set by a degraded mode: requests with a larger priority number are shed."""
        self.memory: Any = None
        """The memory tracker, when memory is modelled (frees an agent's memory)."""
        self.busy = 0
        self.draining = 0
        self.crashes = 0
        self.busy_area = 0.0
        self.capacity_area = 0.0
        self.waiting_area = 0.0
        self._t = 0.0
        self._by_age: deque[ManagedWaiter] = deque()
        self._agents: dict[int, ManagedAgent] = {}
        super().__init__(env, **kwargs)
        self.floor = self.live
        """Idle stops never take the pool below its warm count."""

    # ------------------------------------------------------------ integrals
    def _account(self) -> None:
        """Add the levels since the last change to their time integrals; called
        before any change of busy slots, capacity or queue length."""
        now = self.env.now
        dt = now - self._t
        if dt > 0:
            self.busy_area += self.busy * dt
            self.capacity_area += self.live * self.concurrency * dt
            self.waiting_area += self.waiting * dt
            self._t = now

    def areas(self) -> tuple[float, float, float]:
        """The time integrals, up to now, of busy slots, slot capacity (agents up
        times concurrency) and requests waiting: the autoscaler's metrics are their
        differences over its period."""
        self._account()
        return self.busy_area, self.capacity_area, self.waiting_area

    def follow_memory(self, tracker: Any) -> list[ManagedAgent]:
        """Tell *tracker* (a memory tracker) of every agent that comes up, stops or
        crashes from now on; the agents up now, which it must take in itself."""
        self.memory = tracker
        return [a for a in self._agents.values() if a.state is AgentState.UP]

    # ------------------------------------------------------------ slots
    def acquire(self, priority: int) -> Agent | Waiter | object:
        if self.shed_above is not None and priority > self.shed_above:
            return TURNED_AWAY
        self._account()
        if self._free and not self.waiting:
            agent: ManagedAgent = self._free.pop()  # type: ignore[assignment]
            agent.free -= 1
            agent.busy += 1
            self.busy += 1
            return agent
        if (self.shed_depth is not None or self.shed_wait is not None) and self._overloaded():
            if not self.shed_lowest:
                return TURNED_AWAY
            victim = self._lowest()
            if victim is None or victim.priority <= priority:
                return TURNED_AWAY
            self.leave(victim, TURNED_AWAY)
        if self.queue_capacity is not None and self.waiting >= self.queue_capacity:
            return NO_ROOM
        waiter = ManagedWaiter(self.env.event(), priority, self.env.now)
        if self.priority:
            heapq.heappush(self._heap, (priority, next(self._order), waiter))
        else:
            self._fifo.append(waiter)
        if self.shed_wait is not None:
            self._by_age.append(waiter)
        self.waiting += 1
        self._spawn_if_needed()
        return waiter

    def release(self, agent: Agent) -> None:
        assert isinstance(agent, ManagedAgent)
        self._account()
        if agent.state is AGENT_UP and agent.busy + agent.free <= self.concurrency:
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.event.succeed(agent)
                return
            agent.busy -= 1
            self.busy -= 1
            agent.free += 1
            self._free.append(agent)
            if agent.busy == 0:
                self._idle(agent)
            return
        # a slot the agent should no longer offer: drop it
        agent.busy -= 1
        self.busy -= 1
        if agent.state is AGENT_DRAINING and agent.busy == 0:
            self.draining -= 1
            self._down(agent)

    def leave(self, waiter: Waiter, reason: object = None) -> bool:
        """Take *waiter* out of the queue: its client gave up (*reason* None) or
        it was shed (*reason* TURNED_AWAY)."""
        if waiter.left or waiter.event.triggered:
            return False
        self._account()
        waiter.left = True
        self.waiting -= 1
        waiter.event.succeed(reason)
        return True

    def attach(self, agent: ManagedAgent, req: Any, proc: simpy.Process) -> bool:
        """Note that *req* runs in *agent*; False if the agent crashed before the
        request could start."""
        if agent.state is AgentState.CRASHED:
            return False
        agent.requests[req] = proc
        return True

    def detach(self, agent: ManagedAgent, req: Any) -> None:
        del agent.requests[req]

    # ------------------------------------------------------------ backpressure
    def _overloaded(self) -> bool:
        if self.shed_depth is not None and self.waiting >= self.shed_depth:
            return True
        if self.shed_wait is not None:
            ages = self._by_age
            while ages and (ages[0].left or ages[0].event.triggered):
                ages.popleft()
            if ages and self.env.now - ages[0].since >= self.shed_wait:
                return True
        return False

    def _queued(self) -> list[ManagedWaiter]:
        entries = [e[2] for e in self._heap] if self.priority else list(self._fifo)
        return [w for w in entries if not w.left and not w.event.triggered]  # type: ignore[misc]

    def _lowest(self) -> ManagedWaiter | None:
        """The waiting request to shed first: the largest priority number, the
        latest to arrive among equals."""
        queued = self._queued()
        if not queued:
            return None
        return max(queued, key=lambda w: (w.priority, w.since))

    def shed_waiting(self, above: int) -> int:
        """Shed every waiting request whose priority number is above *above*."""
        shed = 0
        for waiter in self._queued():
            if waiter.priority > above and self.leave(waiter, TURNED_AWAY):
                shed += 1
        return shed

    # ------------------------------------------------------------ lifecycle
    def _spawn_if_needed(self) -> None:
        if not self.autoscaled:
            super()._spawn_if_needed()

    def _new_agent(self) -> Agent:
        agent = ManagedAgent(next(self._ids), self.env.now)
        self._agents[agent.id] = agent
        return agent

    def _spawned(self, agent: Agent, _event: simpy.Event | None = None) -> None:
        assert isinstance(agent, ManagedAgent)
        if agent.state is AgentState.CANCELLED:
            return
        super()._spawned(agent)

    def _agent_up(self, agent: Agent) -> None:
        assert isinstance(agent, ManagedAgent)
        self._account()
        agent.state = AgentState.UP
        agent.up_since = self.env.now
        self.live += 1
        self.recorder.agent(self.env.now, agent.id, AgentEvent.UP)
        if self.memory is not None and not self.memory.agent_up(agent):
            return  # it crashed at once: the limit leaves no room for it
        for _ in range(self.concurrency):
            agent.busy += 1  # release() takes the slot back from a notional holder
            self.busy += 1
            self.release(agent)
        if agent.busy == 0:
            self._idle(agent)

    def _idle(self, agent: ManagedAgent) -> None:
        """*agent* has nothing to do: after ``idle_timeout`` it stops, unless it got
        work meanwhile or the pool is at its warm count."""
        if self.idle_timeout is None:
            return
        since = agent.idle_since = self.env.now
        timer = self.env.timeout(self.idle_timeout)

        def expire(_event: simpy.Event) -> None:
            if (agent.state is AgentState.UP and agent.busy == 0 and agent.idle_since == since
                    and self.live > self.floor):
                self._stop(agent)

        timer.callbacks.append(expire)

    def _withdraw_free(self, agent: ManagedAgent) -> None:
        if agent.free:
            self._free = [a for a in self._free if a is not agent]
            agent.free = 0

    def _stop(self, agent: ManagedAgent) -> None:
        """Take *agent* out of service; it goes down once its requests are done."""
        self._account()
        self._withdraw_free(agent)
        self.live -= 1
        if agent.busy == 0:
            self._down(agent)
        else:
            agent.state = AgentState.DRAINING
            self.draining += 1

    def _down(self, agent: ManagedAgent) -> None:
        agent.state = AgentState.DOWN
        del self._agents[agent.id]
        self.recorder.agent(self.env.now, agent.id, AgentEvent.DOWN)
        if self.memory is not None:
            self.memory.agent_gone(agent)

    def crash(self, agent: ManagedAgent, cause: str) -> None:
        """*agent* dies: its requests fail with *cause* (all but the running process,
        which learns it from the caller), and, unless it was stopping anyway, it
        restarts after a spawn latency, under the same id."""
        self._account()
        self._withdraw_free(agent)
        was_up = agent.state is AgentState.UP
        if was_up:
            self.live -= 1
        elif agent.state is AgentState.DRAINING:
            self.draining -= 1
        agent.state = AgentState.CRASHED
        self.busy -= agent.busy
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
        del self._agents[agent.id]
        if was_up:
            restarted = ManagedAgent(agent.id, self.env.now)
            self._agents[agent.id] = restarted
            self.spawning += 1
            self._start(restarted)

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
            self._start(self._new_agent())
        if change >= 0:
            return
        excess = -change
        while excess and self._deferred:
            deferred = self._deferred.pop()
            assert isinstance(deferred, ManagedAgent)
            self._cancel(deferred)
            excess -= 1
        starting = sorted((a for a in self._agents.values() if a.state is AgentState.STARTING
                           and a not in self._deferred), key=lambda a: -a.id)
        for agent in starting[:excess]:
            self._in_progress -= 1
            self._cancel(agent)
            excess -= 1
            if self._deferred:
                self._start(self._deferred.popleft())
        running = sorted((a for a in self._agents.values() if a.state is AgentState.UP),
                         key=lambda a: (a.busy, -a.id))
        for agent in running[:excess]:
            self._stop(agent)

    def _cancel(self, agent: ManagedAgent) -> None:
        agent.state = AgentState.CANCELLED
        self.spawning -= 1
        del self._agents[agent.id]
        self.recorder.agent(self.env.now, agent.id, AgentEvent.CANCEL)

    def set_concurrency(self, concurrency: int) -> None:
        """Serve at most *concurrency* requests per agent from now on: fewer free
        slots at once, busy slots dropped as they are released; or more slots."""
        self._account()
        old, self.concurrency = self.concurrency, concurrency
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
        for agent in list(self._agents.values()):
            if agent.state is AgentState.UP:
                for _ in range(concurrency - agent.busy - agent.free):
                    agent.busy += 1
                    self.busy += 1
                    self.release(agent)
