"""A circuit breaker per provider: closed, open, half-open.

Closed: attempts pass; their outcomes over the last ``window`` seconds are kept,
and when at least ``min_calls`` were seen and ``failure_ratio`` of them failed
the breaker opens (which failures count: the spec's ``count``, by default
``api_error`` and ``timeout``, not 429s). Open: attempts fail at once with
``circuit_open``, and are not recorded, until ``open_for`` has passed; the next
attempt finds it half-open. Half-open: up to
``probes`` attempts pass; the first failure re-opens it, ``probes`` successes
close it. Outcomes of attempts admitted under an earlier state are ignored
(they say nothing about the provider since the state changed).
"""

from __future__ import annotations

from collections import deque

from tarsim.components.retry import statuses_of
from tarsim.config.providers import CircuitBreaker
from tarsim.vocabulary import BreakerState


class Breaker:
    """One provider's breaker: :meth:`admit` before each attempt (None: fail fast
    with ``circuit_open``, else a ticket), :meth:`record` with the ticket and the
    attempt's status after it. The statuses that count as failures are those the
    spec's ``count`` names (``api_error`` includes overload errors, 529/503)."""

    def __init__(self, spec: CircuitBreaker) -> None:
        self.failure_ratio = spec.failure_ratio
        self.window = spec.window
        self.min_calls = spec.min_calls
        self.open_for = spec.open_for
        self.probes = spec.probes
        self.counted = statuses_of(spec.count)
        self.state = BreakerState.CLOSED
        self.generation = 0
        """Bumped at every transition; an admission ticket is its generation."""
        self.opened_at = 0.0
        self.outcomes: deque[tuple[float, bool]] = deque()
        self.failures = 0
        self.probes_sent = 0
        self.probes_ok = 0
        self.transitions: list[tuple[float, BreakerState]] = []
        """(time, new state): rare events, kept for traces and reports."""

    def _enter(self, now: float, state: BreakerState) -> None:
        self.state = state
        self.generation += 1
        self.transitions.append((now, state))
        if state == BreakerState.OPEN:
            self.opened_at = now
        elif state == BreakerState.HALF_OPEN:
            self.probes_sent = self.probes_ok = 0
        else:
            self.outcomes.clear()
            self.failures = 0

    def admit(self, now: float) -> int | None:
        """A ticket for an attempt now, or None: fail fast with ``circuit_open``."""
        if self.state == BreakerState.OPEN:
            if now < self.opened_at + self.open_for:
                return None
            self._enter(now, BreakerState.HALF_OPEN)
        if self.state == BreakerState.HALF_OPEN:
            if self.probes_sent >= self.probes:
                return None
            self.probes_sent += 1
        return self.generation

    def record(self, now: float, ticket: int, status: str) -> None:
        """The outcome (an attempt status) of the attempt that got *ticket*."""
        if ticket != self.generation:
            return
        failed = status in self.counted
        if self.state == BreakerState.HALF_OPEN:
            if failed:
                self._enter(now, BreakerState.OPEN)
            else:
                self.probes_ok += 1
                if self.probes_ok >= self.probes:
                    self._enter(now, BreakerState.CLOSED)
            return
        outcomes = self.outcomes
        outcomes.append((now, failed))
        self.failures += failed
        horizon = now - self.window
        while outcomes and outcomes[0][0] < horizon:
            self.failures -= outcomes.popleft()[1]
        if len(outcomes) >= self.min_calls and self.failures >= self.failure_ratio * len(outcomes):
            self._enter(now, BreakerState.OPEN)
