"""Graceful degradation: a controller that looks at the system every interval and
picks a mode, optimal -> high_load -> critical, whose actions the system applies.

The rule (:func:`next_mode`) is data-driven, never evaluated code: it escalates
to the most severe mode whose ``enter`` condition passes (any of queue depth or
memory share above, API success rate below its threshold), and otherwise steps
down one mode once every condition of the current mode is back on the safe side
of its ``exit`` threshold — the gap between enter and exit thresholds is the
hysteresis that keeps the mode from flapping.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from tarsim.components.recorder import Recorder
from tarsim.components.requests import Request
from tarsim.config.model import Actions, Degradation, Mode, Thresholds
from tarsim.vocabulary import MODES, RANK, DegradationMode


@dataclass(frozen=True)
class Reading:
    """What the controller sees at one look."""

    queue: float
    """Requests waiting for an agent slot."""
    memory: float | None
    """Memory as a share of its limit (None: no limit)."""
    success_rate: float | None
    """Attempts of API and tool calls that succeeded over those made, since the last
    look (None: no attempt)."""


def passes(enter: Thresholds, reading: Reading) -> bool:
    """Whether any condition is past its threshold (strictly)."""
    if enter.queue is not None and reading.queue > enter.queue:
        return True
    if enter.memory is not None and reading.memory is not None and reading.memory > enter.memory:
        return True
    return (enter.success_rate is not None and reading.success_rate is not None
            and reading.success_rate < enter.success_rate)


def recovered(mode: Mode, reading: Reading) -> bool:
    """Whether every condition of *mode* is back on the safe side of its exit threshold."""
    queue = mode.exit_threshold("queue")
    if queue is not None and reading.queue > queue:
        return False
    memory = mode.exit_threshold("memory")
    if memory is not None and reading.memory is not None and reading.memory > memory:
        return False
    rate = mode.exit_threshold("success_rate")
    return not (rate is not None and reading.success_rate is not None
                and reading.success_rate < rate)


def next_mode(spec: Degradation, current: DegradationMode, reading: Reading) -> DegradationMode:
    """The mode after one look, from *current* and the *reading*."""
    configured = [name for name in MODES[1:] if getattr(spec, name) is not None]
    for name in reversed(configured):
        if RANK[name] > RANK[current] and passes(getattr(spec, name).enter, reading):
            return name
    optimal = DegradationMode.OPTIMAL
    if current != optimal and recovered(getattr(spec, current), reading):
        lower = [name for name in (optimal, *configured) if RANK[name] < RANK[current]]
        return lower[-1]
    return current


class DegradationController:
    """Looks every ``interval``: reads the queue, memory and API success rate,
    picks the mode, and on a change calls *apply* with the new mode's actions
    (None for optimal) and records the change."""

    def __init__(self, env: simpy.Environment, spec: Degradation, *,
                 queue: Callable[[], float], memory: Callable[[], float] | None,
                 apply: Callable[[Actions | None], None], recorder: Recorder) -> None:
        self.env = env
        self.spec = spec
        self.queue = queue
        self.memory = memory
        self.apply = apply
        self.recorder = recorder
        self.mode = DegradationMode.OPTIMAL
        self.attempts = 0
        self.failed = 0
        env.process(self._run())

    def observe(self, req: Request) -> None:
        """A request finished: count the attempts of its API and tool calls (one
        per call, plus its retries) and those that failed, whatever the status
        (an open breaker and a timeout are failures as much as a 5xx or a 429)."""
        self.attempts += req.api_calls + req.tool_calls + req.retries
        self.failed += req.failed_attempts

    def reading(self) -> Reading:
        rate = 1.0 - self.failed / self.attempts if self.attempts else None
        return Reading(self.queue(), self.memory() if self.memory else None, rate)

    def _run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(self.spec.interval)
            reading = self.reading()
            self.attempts = self.failed = 0
            mode = next_mode(self.spec, self.mode, reading)
            if mode != self.mode:
                self.mode = mode
                self.recorder.mode(self.env.now, mode)
                spec: Mode | None = getattr(self.spec, mode, None)
                self.apply(spec.actions if spec is not None else None)
