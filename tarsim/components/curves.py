"""Piecewise-linear curves through measured points, flat beyond the ends: the
overload-error and slowdown curves of a provider, and a congestion station's rate
table."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class Curve:
    """A piecewise-linear function through (x, y) points, flat beyond the ends."""

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        self.xs = [float(x) for x, _ in points]
        self.ys = [float(y) for _, y in points]

    def __call__(self, x: float) -> float:
        xs, ys = self.xs, self.ys
        k = bisect.bisect_right(xs, x)
        if k == 0:
            return ys[0]
        if k == len(xs):
            return ys[-1]
        x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
