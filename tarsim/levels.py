"""Piecewise-constant levels over a run, built from the records' change logs: the
number of requests queued, slots busy, agents up, bytes in use, hosts up.

A :class:`Level` is a step function with exact time integrals, so a time average
over any window, its maximum and per-bin averages are read off it;
:func:`host_levels` builds the two host levels of an autoscaled deployment.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tarsim.vocabulary import HostEvent


class Level:
    """A piecewise-constant level built from +/- changes at times: the number of
    requests queued, slots busy, agents up, bytes in use."""

    def __init__(self, times: np.ndarray, deltas: np.ndarray, start: float = 0.0) -> None:
        order = np.argsort(times, kind="stable")
        self.times = times[order]
        self.levels = start + np.cumsum(deltas[order])
        self.start = start
        widths = np.diff(self.times, append=self.times[-1] if len(self.times) else 0.0)
        self._area = np.concatenate([[0.0], np.cumsum(self.levels * widths)])

    @classmethod
    def of_intervals(cls, begin: np.ndarray, end: np.ndarray, weight: float | np.ndarray = 1.0,
                     start: float = 0.0) -> Level:
        """The count of open intervals [begin, end) (end NaN: still open), times *weight*."""
        begin = np.asarray(begin, dtype=float)
        end = np.asarray(end, dtype=float)
        w = np.broadcast_to(np.asarray(weight, dtype=float), begin.shape)
        # an interval of no length (a request turned away, or served at once) adds
        # nothing to the area, and would show as a spurious +1 in ``max``
        keep = ~np.isnan(begin) & (begin != end)
        closes = keep & ~np.isnan(end)
        times = np.concatenate([begin[keep], end[closes]])
        deltas = np.concatenate([w[keep], -w[closes]])
        return cls(times, deltas, start)

    @classmethod
    def combine(cls, *parts: tuple[np.ndarray, np.ndarray], start: float = 0.0) -> Level:
        times = np.concatenate([p[0] for p in parts]) if parts else np.array([])
        deltas = np.concatenate([p[1] for p in parts]) if parts else np.array([])
        return cls(times, deltas, start)

    def area(self, t: np.ndarray | float) -> np.ndarray:
        """The integral of the level from 0 to *t*."""
        t = np.asarray(t, dtype=float)
        k = np.searchsorted(self.times, t, side="right") - 1
        inside = k >= 0
        kk = np.where(inside, k, 0)
        before = self.start * np.minimum(t, self.times[0]) if len(self.times) else self.start * t
        if not len(self.times):
            return np.asarray(before)
        after = self._area[kk] + self.levels[kk] * (t - self.times[kk])
        first = self.start * self.times[0]
        return np.where(inside, first + after, before)

    def mean(self, a: float, b: float) -> float:
        return float((self.area(b) - self.area(a)) / (b - a))

    def value_at(self, t: float) -> float:
        k = np.searchsorted(self.times, t, side="right") - 1
        return float(self.levels[k]) if k >= 0 else self.start

    def max(self, a: float, b: float) -> float:
        inside = (self.times >= a) & (self.times < b)
        peak = self.value_at(a)
        return float(max(peak, self.levels[inside].max())) if inside.any() else peak

    def bins(self, edges: np.ndarray) -> np.ndarray:
        """Time averages over consecutive bins."""
        areas = self.area(edges)
        return np.diff(areas) / np.diff(edges)


def host_levels(hosts: Mapping[str, np.ndarray]) -> tuple[Level, Level]:
    """From an autoscaled deployment's host log: the hosts taking traffic (from
    ``up`` to ``drain``), and the hosts paid for (from ``start``, the scale-up
    decision, to ``down`` or ``cancel``: starting, serving or draining)."""
    t = hosts["t"].astype(float)
    event = hosts["event"]

    def changes(plus: tuple[str, ...], minus: tuple[str, ...]) -> Level:
        up, down = t[np.isin(event, plus)], t[np.isin(event, minus)]
        return Level(np.concatenate([up, down]),
                     np.concatenate([np.ones(len(up)), -np.ones(len(down))]))
    serving = changes((HostEvent.UP,), (HostEvent.DRAIN,))
    paid = changes((HostEvent.START,), (HostEvent.DOWN, HostEvent.CANCEL))
    return serving, paid
