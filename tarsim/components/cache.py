"""Caches in front of calls: a given hit rate, or an LRU with a TTL over Zipf keys.

Both answer one question per call, ``lookup(now) -> hit?``. The emergent cache
draws the key each call asks for from a finite Zipf law (independent reference
model) and keeps the ``capacity`` most recently used keys; an entry expires
``ttl`` after its last use (hits refresh it, as Anthropic's prompt cache does).
Because hits refresh the TTL, the expired entries are exactly the least recently
used ones, so they are dropped from the LRU end as time passes.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from tarsim.config.distributions import BATCH, Draw, batched
from tarsim.config.providers import Cache


class HitRateCache:
    """Hits with a fixed probability."""

    def __init__(self, hit_rate: float, rng: np.random.Generator) -> None:
        self.hit_rate = hit_rate
        self.uniform: Draw = batched(rng.random)

    def lookup(self, now: float) -> bool:
        return self.uniform() < self.hit_rate


def zipf_probabilities(count: int, exponent: float) -> np.ndarray:
    """P(key k) proportional to k ** -exponent, k = 1..count."""
    weights = np.arange(1, count + 1, dtype=float) ** -exponent
    return weights / weights.sum()


def zipf_keys(count: int, exponent: float, rng: np.random.Generator) -> Callable[[], int]:
    """Draws of 0-based key indices (0 the most popular), in batches."""
    cdf = np.cumsum(zipf_probabilities(count, exponent))
    cdf[-1] = 1.0

    def batch(n: int) -> np.ndarray:
        return np.searchsorted(cdf, rng.random(n), side="right")

    def stream():  # type: ignore[no-untyped-def]
        while True:
            yield from batch(BATCH).tolist()

    return stream().__next__


class LRUCache:
    """*capacity* entries, least recently used evicted first, entries expiring
    *ttl* seconds after their last use."""

    def __init__(self, capacity: int, ttl: float | None, keys: Callable[[], int],
                 on_change: Callable[[int], None] | None = None) -> None:
        self.capacity = capacity
        self.ttl = math.inf if ttl is None else ttl
        self.keys = keys
        self.on_change = on_change
        """Told the change in the number of entries (memory follows it)."""
        self.entries: OrderedDict[int, float] = OrderedDict()
        """key -> time of last use, least recent first."""

    def lookup(self, now: float) -> bool:
        return self.access(self.keys(), now)

    def access(self, key: int, now: float) -> bool:
        entries = self.entries
        before = len(entries)
        horizon = now - self.ttl
        while entries:
            oldest = next(iter(entries.values()))
            if oldest >= horizon:
                break
            entries.popitem(last=False)
        hit = key in entries
        if hit:
            entries.move_to_end(key)
        elif len(entries) >= self.capacity:
            entries.popitem(last=False)
        entries[key] = now
        if self.on_change is not None and len(entries) != before:
            self.on_change(len(entries) - before)
        return hit


Lookup = HitRateCache | LRUCache


def build_cache(spec: Cache, rng: np.random.Generator,
                on_change: Callable[[int], None] | None = None) -> Lookup:
    """The cache a spec describes, drawing from *rng*; an LRU tells *on_change* how
    its number of entries changes (a fixed hit rate models no entries)."""
    if spec.hit_rate is not None:
        return HitRateCache(spec.hit_rate, rng)
    assert spec.lru is not None and spec.keys is not None  # the spec's validator
    return LRUCache(spec.lru.capacity, spec.lru.ttl,
                    zipf_keys(spec.keys.count, spec.keys.zipf, rng), on_change)
