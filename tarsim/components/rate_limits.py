"""Rate limiters as hosted APIs enforce them: token buckets and fixed windows.

A :class:`RateLimiter` holds the limiters of one scope (a provider, a model, a
tool) for requests, input tokens and output tokens. Admission is checked when
an attempt is sent: if any limiter lacks room the attempt gets a 429 whose
retry-after is the time until *every* limiter has room, as Anthropic's
``retry-after`` header says ("earlier retries will fail"). Failed admissions
debit nothing.
"""

from __future__ import annotations

import math
from typing import Any

from tarsim.config.providers import Limits
from tarsim.vocabulary import Scope

EPSILON = 1e-9
"""Room is compared with this slack: a retry sent exactly when the bucket refills
must not fail on a rounding error."""

ONE_TOKEN = 1.0
"""What an OTPM limiter in ``generated`` mode needs at admission: room for one token."""


class TokenBucket:
    """Continuous refill at *rate* per second up to *capacity*, starting full."""

    __slots__ = ("capacity", "level", "rate", "t")

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.t = 0.0

    def _refill(self, now: float) -> None:
        if now > self.t:
            self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
            self.t = now

    def wait(self, now: float, amount: float) -> float:
        """Seconds until *amount* fits (0: it fits now). An amount above the capacity
        waits for a full bucket (it then takes the bucket into debt)."""
        self._refill(now)
        need = min(amount, self.capacity) - self.level
        return 0.0 if need <= EPSILON else need / self.rate

    def take(self, now: float, amount: float) -> None:
        self._refill(now)
        self.level -= amount

    def give(self, now: float, amount: float) -> None:
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)


class FixedWindow:
    """At most *limit* per window of *window* seconds; counts reset at k * window."""

    __slots__ = ("index", "limit", "used", "window")

    def __init__(self, limit: float, window: float) -> None:
        self.limit = limit
        self.window = window
        self.index = 0
        self.used = 0.0

    def _roll(self, now: float) -> None:
        index = math.floor(now / self.window)
        if index != self.index:
            self.index = index
            self.used = 0.0

    def wait(self, now: float, amount: float) -> float:
        self._roll(now)
        if self.used + min(amount, self.limit) <= self.limit + EPSILON:
            return 0.0
        return (self.index + 1) * self.window - now

    def take(self, now: float, amount: float) -> None:
        self._roll(now)
        self.used += amount

    def give(self, now: float, amount: float) -> None:
        """A refund counts only in the window it was taken in (a later window
        started from zero anyway)."""
        self._roll(now)
        self.used = max(0.0, self.used - amount)


Limiter = TokenBucket | FixedWindow


def _limiter(rate: float | None, spec: Limits) -> Limiter | None:
    if rate is None:
        return None
    limiter: Limiter
    if spec.kind == "fixed_window":
        limiter = FixedWindow(rate * spec.window, spec.window)
        if spec.start == "empty":
            limiter.used = limiter.limit
        return limiter
    limiter = TokenBucket(rate, rate * spec.capacity_s)
    if spec.start == "empty":
        limiter.level = 0.0
    return limiter


KINDS = ("requests", "input_tokens", "output_tokens")
"""What a scope limits, in the order of :attr:`RateLimiter.refused`."""


class RateLimiter:
    """The request, input-token and output-token limiters of one scope (*label*:
    where the limits are written, ``providers.openai``, ``llms.haiku``,
    ``tools.search``), and how often each refused."""

    __slots__ = ("failed", "generated", "input", "label", "output", "refused", "rejected_after",
                 "requests")

    def __init__(self, spec: Limits, label: str = "") -> None:
        self.label = label
        self.rejected_after = spec.rejected_after
        """Seconds a 429 from this scope takes (None: the provider's default)."""
        self.requests = _limiter(spec.requests, spec)
        self.input = _limiter(spec.input_tokens, spec)
        self.output = _limiter(spec.output_tokens, spec)
        self.generated = spec.output_debit == "generated"
        self.refused = [0, 0, 0]
        """429s for lack of room, per kind (:data:`KINDS`); one 429 counts for every
        limit that lacked room."""
        self.failed = [0, 0, 0]
        """Calls that failed for good (``rate_limited``) on a 429 from this limit."""

    def kinds(self) -> list[int]:
        """Indices (in :data:`KINDS`) of the limits this scope has."""
        return [i for i, limiter in enumerate((self.requests, self.input, self.output))
                if limiter is not None]

    def lacking(self, now: float, input_tokens: float, reserve: float) -> tuple[int, ...]:
        """The kinds without room for this attempt now (called only after a 429, so
        admitted attempts pay nothing for the bookkeeping)."""
        out = []
        if self.requests is not None and self.requests.wait(now, 1.0) > 0:
            out.append(0)
        if self.input is not None and input_tokens > 0 and self.input.wait(now,
                                                                           input_tokens) > 0:
            out.append(1)
        if self.output is not None:
            need = ONE_TOKEN if self.generated else reserve
            if need > 0 and self.output.wait(now, need) > 0:
                out.append(2)
        return tuple(out)

    def wait(self, now: float, input_tokens: float, reserve: float) -> float:
        """Seconds until an attempt with these tokens would be admitted (0: now)."""
        wait = 0.0
        if self.requests is not None:
            wait = self.requests.wait(now, 1.0)
        if self.input is not None and input_tokens > 0:
            wait = max(wait, self.input.wait(now, input_tokens))
        if self.output is not None:
            need = ONE_TOKEN if self.generated else reserve
            if need > 0:
                wait = max(wait, self.output.wait(now, need))
        return wait

    def admit(self, now: float, input_tokens: float, reserve: float) -> None:
        if self.requests is not None:
            self.requests.take(now, 1.0)
        if self.input is not None and input_tokens > 0:
            self.input.take(now, input_tokens)
        if self.output is not None and not self.generated and reserve > 0:
            self.output.take(now, reserve)

    def settle(self, now: float, reserve: float, generated: float) -> None:
        """The attempt ended having produced *generated* output tokens: debit them
        (``generated`` mode) or refund the unused reservation (``max_tokens`` mode)."""
        output = self.output
        if output is None:
            return
        if self.generated:
            if generated > 0:
                output.take(now, generated)
        elif reserve > generated:
            output.give(now, reserve - generated)


class ScopedLimiter:
    """Limits declared per host or per region: one :class:`RateLimiter` for each host
    (or each region), made when the first call from it arrives."""

    def __init__(self, spec: Limits, label: str = "") -> None:
        self.spec = spec
        self.label = label
        self.per_host = spec.scope == Scope.HOST
        self.limiters: dict[Any, RateLimiter] = {}

    def __call__(self, host: Any) -> RateLimiter:
        key = (0 if host is None else host.index) if self.per_host else (
            "" if host is None else host.region)
        limiter = self.limiters.get(key)
        if limiter is None:
            limiter = self.limiters[key] = RateLimiter(self.spec, self.label)
        return limiter


def scoped_limits(spec: Limits | None, label: str = "") -> ScopedLimiter | None:
    """A per-host or per-region limiter for *spec*; None for organisation-wide limits
    (one bucket shared by every host) or no limits."""
    if spec is None or spec.scope == Scope.ORGANISATION:
        return None
    return ScopedLimiter(spec, label)
