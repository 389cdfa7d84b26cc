"""Which model serves an LLM call, and the switches a controller flips at run time.

A role's calls go to its own ``mix``, else to ``routing.mix``, else to its
``llm``. :class:`Controls` is the small runtime object a degradation controller
(or a test) changes while the simulation runs: ``downgrade`` maps a model to a
cheaper one (``{"sonnet": "haiku"}``), ``cache_only`` makes calls behind a
context cache answer from it or fail with ``shed``. Both are read on every LLM
call, so a change takes effect from the next call on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from tarsim.components.sampling import Draw, batched

T = TypeVar("T")


@dataclass
class Controls:
    """Runtime switches, off by default."""

    downgrade: dict[str, str] = field(default_factory=dict)
    """Model name -> the model to use instead (names from ``llms``)."""
    cache_only: bool = False
    """Answer LLM calls only from the context cache; a miss fails with ``shed``."""


class Mixer(Generic[T]):
    """Draws one of several choices with given shares."""

    def __init__(self, shares: Mapping[str, float], choices: Mapping[str, T],
                 rng: np.random.Generator) -> None:
        names = [name for name, share in shares.items() if share > 0]
        self.choices = [choices[name] for name in names]
        cdf = np.cumsum([shares[name] for name in names])
        self.cdf = (cdf / cdf[-1]).tolist()
        self.uniform: Draw = batched(rng.random)

    def __call__(self) -> T:
        u = self.uniform()
        for choice, edge in zip(self.choices, self.cdf, strict=True):
            if u < edge:
                return choice
        return self.choices[-1]
