"""Connection pools that measure their own utilisation.

A :class:`MeteredPool` is a SimPy ``Resource`` that integrates the number of
connections in use over the measured window [warm-up, horizon), so that a run can
say how busy each pool was (its time-average connections in use over its size) -
the utilisation of a limited resource that the sweep's bottleneck column reads
beside the agent slots and the rate limits. It costs one multiplication at each
grant and release, and only models that declare pools have one.
"""

from __future__ import annotations

from typing import Any

import simpy


class MeteredPool(simpy.Resource):
    """A ``simpy.Resource`` of *capacity* connections, with ``busy_seconds``: the
    integral of connections in use over [*start*, *end*)."""

    def __init__(self, env: simpy.Environment, capacity: int, start: float,
                 end: float) -> None:
        super().__init__(env, capacity)
        self.start, self.end = start, end
        self.busy_seconds = 0.0
        self._since = 0.0

    def _advance(self) -> None:
        now = self._env.now
        low, high = max(self._since, self.start), min(now, self.end)
        if high > low:
            self.busy_seconds += len(self.users) * (high - low)
        self._since = now

    def _do_put(self, event: Any) -> None:
        self._advance()
        super()._do_put(event)

    def _do_get(self, event: Any) -> None:
        self._advance()
        super()._do_get(event)

    def utilization(self) -> float:
        """Time-average connections in use over the window, over the pool's size."""
        self._advance()
        window = self.end - self.start
        return self.busy_seconds / (window * self.capacity) if window > 0 else 0.0
