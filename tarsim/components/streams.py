"""Random-number streams: one numpy Generator per named stochastic source.

Each stream comes from one SeedSequence keyed by (seed, replication, stream
name), following SPEC 7. The same seed gives the same numbers in any process and
any order, and two configurations of one model share the draws of every source
they have in common (common random numbers): changing ``agents.count`` leaves
the arrival stream untouched.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (``hash()`` is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Hands out the generator of each named source for one replication."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication
        self._made: set[str] = set()

    def __call__(self, name: str) -> np.random.Generator:
        if name in self._made:
            raise ValueError(f"stream {name!r} was already handed out in this replication")
        self._made.add(name)
        sequence = np.random.SeedSequence(self.seed, spawn_key=(self.replication, stream_key(name)))
        return np.random.Generator(np.random.PCG64(sequence))
