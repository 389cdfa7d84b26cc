"""Samplers: the runtime side of the model's distributions.

A distribution spec (validated data, :mod:`tarsim.config.distributions`) becomes
a *sampler* at build time through a registry keyed by its ``dist`` name: a
zero-argument function returning one draw per call. Samplers draw from numpy in
batches, because one numpy call per draw would dominate the simulation's time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tarsim.config.distributions import is_zero, load_empirical

BATCH = 512
"""Draws fetched from numpy per refill: large enough to amortise the call, small
enough that short runs do not waste time on draws they never use."""

Draw = Callable[[], float]


def batched(draw_batch: Callable[[int], np.ndarray]) -> Draw:
    """A draw function that refills from numpy *BATCH* values at a time."""

    def stream() -> Iterator[float]:
        while True:
            yield from draw_batch(BATCH).tolist()

    return stream().__next__


def _constant(spec: Any, rng: np.random.Generator, base_dir: Path) -> Draw:
    return itertools.repeat(float(spec.value)).__next__


def _exponential(spec: Any, rng: np.random.Generator, base_dir: Path) -> Draw:
    mean = spec.mean_
    return batched(lambda n: rng.exponential(mean, n))


def _uniform(spec: Any, rng: np.random.Generator, base_dir: Path) -> Draw:
    low, high = spec.low, spec.high
    return batched(lambda n: rng.uniform(low, high, n))


def _lognormal(spec: Any, rng: np.random.Generator, base_dir: Path) -> Draw:
    mu, sigma = spec.mu_sigma()
    return batched(lambda n: rng.lognormal(mu, sigma, n))


def _gamma(spec: Any, rng: np.random.Generator, base_dir: Path) -> Draw:
    shape = 1.0 / spec.cv**2
    scale = spec.mean_ / shape
    return batched(lambda n: rng.gamma(shape, scale, n))


def _empirical(spec: Any, rng: np.random.Generator, base_dir: Path) -> Draw:
    values = load_empirical(spec, base_dir)
    return batched(lambda n: rng.choice(values, n))


SamplerBuilder = Callable[[Any, np.random.Generator, Path], Draw]


class Registry(dict[str, SamplerBuilder]):
    """Names from YAML to sampler builders; refuses duplicates, lists names on a miss."""

    def register(self, name: str, builder: SamplerBuilder) -> None:
        if name in self:
            raise ValueError(f"distribution {name!r} is already registered")
        self[name] = builder

    def lookup(self, name: str) -> SamplerBuilder:
        try:
            return self[name]
        except KeyError:
            raise ValueError(f"unknown distribution {name!r}; known: {sorted(self)}") from None


REGISTRY = Registry()
for _name, _builder in {
    "constant": _constant, "exponential": _exponential, "uniform": _uniform,
    "lognormal": _lognormal, "gamma": _gamma, "empirical": _empirical,
}.items():
    REGISTRY.register(_name, _builder)


def sampler(spec: Any, rng: np.random.Generator, base_dir: Path = Path(".")) -> Draw:
    """A zero-argument function returning one draw of *spec* per call."""
    return REGISTRY.lookup(spec.dist)(spec, rng, base_dir)


def zero() -> float:
    """The draw of a time or count that is zero."""
    return 0.0


def draw_of(spec: Any, streams: Callable[[str], np.random.Generator], name: str,
            base_dir: Path = Path(".")) -> Draw:
    """A sampler of *spec* on the stream *name*, or :func:`zero` when *spec* is zero
    (no stream is drawn from, so a zero time changes no other draw)."""
    return zero if is_zero(spec) else sampler(spec, streams(name), base_dir)


