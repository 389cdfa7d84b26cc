"""The agent pool's slot meter: busy slots now, and the time integrals of busy
slots, slot capacity and queue length.

The autoscaler averages the integrals over its period (their differences divided
by the period); the memory tracker and the pool read the busy count. The levels
are piecewise constant, so :meth:`SlotMeter.account` adds the level since the last
change to each integral and must run before any change of busy slots, agents up,
concurrency or queue length.
"""

from __future__ import annotations

from typing import Protocol

import simpy


class Agents(Protocol):
    """The agent counts the meter reads: agents up, and slots per agent."""

    live: int
    concurrency: int


class Queue(Protocol):
    waiting: int


class SlotMeter:
    """Busy slots and the time integrals of busy slots, capacity and queue length."""

    def __init__(self, env: simpy.Environment, agents: Agents, queue: Queue) -> None:
        self.env = env
        self.agents = agents
        self.queue = queue
        self.busy = 0
        """Slots in use now."""
        self.busy_area = 0.0
        self.capacity_area = 0.0
        self.waiting_area = 0.0
        self._t = 0.0

    def account(self) -> None:
        """Add the levels since the last change to their time integrals; called
        before any change of busy slots, capacity or queue length."""
        now = self.env.now
        dt = now - self._t
        if dt > 0:
            agents = self.agents
            self.busy_area += self.busy * dt
            self.capacity_area += agents.live * agents.concurrency * dt
            self.waiting_area += self.queue.waiting * dt
            self._t = now

    def areas(self) -> tuple[float, float, float]:
        """The time integrals, up to now, of busy slots, slot capacity (agents up
        times concurrency) and requests waiting: the autoscaler's metrics are their
        differences over its period."""
        self.account()
        return self.busy_area, self.capacity_area, self.waiting_area
