"""The client's retry policy, as the official Anthropic and OpenAI SDKs implement it.

The n-th retry (n = 0, 1, ...) waits min(initial * factor**n, max) times a
random factor in (1 - jitter, 1] (``1 - jitter * U[0, 1)``, the SDKs' code),
unless the failed attempt carried a retry-after in (0, honor_retry_after], which
is then used as-is, without jitter.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tarsim.config.distributions import Draw, batched
from tarsim.config.providers import Retry
from tarsim.vocabulary import CAUSE, AttemptStatus


def statuses_of(causes: Iterable[str]) -> frozenset[AttemptStatus]:
    """The attempt statuses that fail a request with one of *causes* (``api_error``
    takes in the overload errors, 529/503, which fail requests as ``api_error``)."""
    wanted = set(causes)
    return frozenset(status for status, cause in CAUSE.items() if cause in wanted)


class RetryPolicy:
    """How many attempts, which failures to retry, and how long to wait between."""

    def __init__(self, spec: Retry, rng: np.random.Generator) -> None:
        self.attempts = spec.attempts
        backoff = spec.backoff
        self.initial = backoff.initial
        self.factor = backoff.factor
        self.max = backoff.max
        self.jitter = backoff.jitter
        self.honor_retry_after = spec.honor_retry_after
        self.retried = statuses_of(spec.on)
        self.uniform: Draw = batched(rng.random)

    def backoff(self, n: int) -> float:
        """The wait before retry *n* (0-based) when no retry-after applies."""
        delay = min(self.initial * self.factor**n, self.max)
        if self.jitter > 0:
            delay *= 1.0 - self.jitter * self.uniform()
        return delay

    def wait(self, n: int, retry_after: float) -> float:
        """The wait before retry *n*, honouring a valid retry-after."""
        if 0.0 < retry_after <= self.honor_retry_after:
            return retry_after
        return self.backoff(n)
