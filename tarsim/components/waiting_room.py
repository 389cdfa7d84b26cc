"""The router's waiting room in front of the agent pool: its discipline, its
capacity and, when the model sheds load, its shedding.

Requests that find no free slot wait here, first come first served or by class
priority (lower number first, FIFO within a priority); ``capacity`` bounds the
number *waiting*, not in service. A request that leaves (its client gave up, or
it was shed) stays in the queue marked ``left`` and is skipped when its turn
comes, so leaving costs O(1).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque

import simpy

NO_ROOM = object()
"""Returned by the pool's ``acquire`` when the waiting room is full."""

TURNED_AWAY = object()
"""Returned by the managed pool's ``acquire``, and given to a waiter shed from the
queue: backpressure or a degraded mode turned the request away."""


class Waiter:
    """A place in the queue. *event* succeeds with the agent, or with ``None`` when
    the request leaves the queue without a slot (its client gave up)."""

    __slots__ = ("event", "left")

    def __init__(self, event: simpy.Event) -> None:
        self.event = event
        self.left = False


class ManagedWaiter(Waiter):
    """A place in a queue that sheds: it knows its priority and when it arrived."""

    __slots__ = ("priority", "since")

    def __init__(self, event: simpy.Event, priority: int, since: float) -> None:
        super().__init__(event)
        self.priority = priority
        self.since = since


class WaitingRoom:
    """Requests waiting for a slot, FIFO or by priority, at most ``capacity`` of them."""

    def __init__(self, env: simpy.Environment, *, capacity: int | None,
                 priority: bool) -> None:
        self.env = env
        self.capacity = capacity
        self.priority = priority
        self._order = itertools.count()
        self._fifo: deque[Waiter] = deque()
        self._heap: list[tuple[int, int, Waiter]] = []
        self.waiting = 0
        """Requests in the queue now (those that left early are not counted)."""

    def join(self, priority: int, waiter: Waiter | None = None) -> Waiter:
        """A new place in the queue (*waiter*, or a new one), at the back of its priority."""
        if waiter is None:
            waiter = Waiter(self.env.event())
        if self.priority:
            heapq.heappush(self._heap, (priority, next(self._order), waiter))
        else:
            self._fifo.append(waiter)
        self.waiting += 1
        return waiter

    def to_front(self, waiter: Waiter) -> None:
        """Move *waiter*, which has just joined, to the head of the queue, ahead of
        every priority."""
        if self.priority:
            heap = self._heap
            at = next(i for i, entry in enumerate(heap) if entry[2] is waiter)
            heap[at] = (-math.inf, heap[at][1], waiter)  # type: ignore[assignment]
            heapq.heapify(heap)
        else:
            self._fifo.pop()  # join() has just put it last
            self._fifo.appendleft(waiter)

    def next(self) -> Waiter | None:
        """Take the next waiter still waiting out of the queue; None if none is."""
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

    def leave(self, waiter: Waiter, reason: object = None) -> bool:
        """Take *waiter* out of the queue, its event answered with *reason*; False
        if it already left or got a slot."""
        if waiter.left or waiter.event.triggered:
            return False
        waiter.left = True
        self.waiting -= 1
        waiter.event.succeed(reason)
        return True

    def queued(self) -> list[Waiter]:
        """The waiters still waiting, in no particular order."""
        entries = [e[2] for e in self._heap] if self.priority else list(self._fifo)
        return [w for w in entries if not w.left and not w.event.triggered]


class SheddingRoom(WaitingRoom):
    """A waiting room that sheds under backpressure: past ``shed_depth`` waiting,
    or once the oldest has waited ``shed_wait``, a newcomer is turned away
    (policy ``reject``) or the waiting request of lowest priority makes room for
    it (policy ``lowest``). A degraded mode may also shed every priority above
    ``shed_above``."""

    def __init__(self, env: simpy.Environment, *, capacity: int | None, priority: bool,
                 shed_depth: int | None = None, shed_wait: float | None = None,
                 shed_policy: str = "reject") -> None:
        super().__init__(env, capacity=capacity, priority=priority)
        self.shed_depth = shed_depth
        self.shed_wait = shed_wait
        self.shed_lowest = shed_policy == "lowest"
        self.shed_above: int | None = None
        """Set by a degraded mode: requests with a larger priority number are shed."""
        self._by_age: deque[ManagedWaiter] = deque()

    def join(self, priority: int, waiter: Waiter | None = None) -> Waiter:
        """A new place in the queue, at the back of its priority (a shedding room
        makes its own waiters, which know their priority and arrival)."""
        made = ManagedWaiter(self.env.event(), priority, self.env.now)
        WaitingRoom.join(self, priority, made)  # not super(): one object less per call
        if self.shed_wait is not None:
            self._by_age.append(made)
        return made

    def shed_for(self, priority: int) -> ManagedWaiter | object | None:
        """Under backpressure, TURNED_AWAY when a newcomer of *priority* is to be
        turned away, else the waiter to shed in its place; None without backpressure."""
        if (self.shed_depth is None and self.shed_wait is None) or not self._overloaded():
            return None
        if not self.shed_lowest:
            return TURNED_AWAY
        victim = self._lowest()
        if victim is None or victim.priority <= priority:
            return TURNED_AWAY
        return victim

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

    def _lowest(self) -> ManagedWaiter | None:
        """The waiting request to shed first: the largest priority number, the
        latest to arrive among equals."""
        queued = self.above(-math.inf)
        if not queued:
            return None
        return max(queued, key=lambda w: (w.priority, w.since))

    def above(self, priority: float) -> list[ManagedWaiter]:
        """The waiters still waiting whose priority number is above *priority*."""
        return [w for w in self.queued() if isinstance(w, ManagedWaiter) and w.priority > priority]
