"""The Universal Scalability Law fitted to throughput against concurrency.

X(N) = gamma N / (1 + sigma (N - 1) + kappa N (N - 1)): gamma is the throughput of
one user alone, sigma contention, kappa coherency (Gunther). Fitted by bounded
nonlinear least squares (sigma, kappa in [0, 1], gamma >= 0, starting from
gamma = max X/N, sigma = 0.01, kappa = 1e-4, as R's ``usl`` does). Standard errors
come from the Jacobian at the optimum, scaled by the residual variance; the 95%
intervals are TWO-sided, t(0.975, n - 3) — not ``usl``'s one-sided qt(0.95, n - 1),
which makes them about a quarter narrower than labelled (docs/sources.md §8).
The peak concurrency N* = sqrt((1 - sigma) / kappa) gets its interval by the delta
method. Fewer than 6 points give a warning, as ``usl`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MIN_POINTS = 6
"""Below this many points the fit is reported with a warning (R's usl does the same)."""


def usl_throughput(n: np.ndarray | float, gamma: float, sigma: float,
                   kappa: float) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    return gamma * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


@dataclass(frozen=True)
class USLFit:
    gamma: float
    sigma: float
    kappa: float
    ci95: dict[str, tuple[float, float]]
    """Two-sided 95% intervals of gamma, sigma, kappa and peak_n (NaN when df < 1)."""
    stderr: dict[str, float]
    points: int
    df: int
    peak_n: float
    """N* = sqrt((1 - sigma) / kappa); infinite when kappa = 0."""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def predict(self, n: np.ndarray | float) -> np.ndarray:
        return usl_throughput(n, self.gamma, self.sigma, self.kappa)

    def as_dict(self) -> dict[str, object]:
        return {"gamma": self.gamma, "sigma": self.sigma, "kappa": self.kappa,
                "peak_n": self.peak_n, "ci95": {k: list(v) for k, v in self.ci95.items()},
                "stderr": dict(self.stderr), "points": self.points, "df": self.df,
                "warnings": list(self.warnings)}


def fit_usl(concurrency: Sequence[float], throughput: Sequence[float]) -> USLFit:
    """Fit the USL to (N, X) points; needs at least 3 points with N > 0."""
    from scipy.optimize import least_squares
    from scipy.stats import t as student_t

    n = np.asarray(concurrency, dtype=float)
    x = np.asarray(throughput, dtype=float)
    if len(n) != len(x):
        raise ValueError("concurrency and throughput must have the same length")
    if len(n) < 3:
        raise ValueError(f"the USL has 3 parameters: needs at least 3 points, got {len(n)}")
    if (n <= 0).any() or (x < 0).any():
        raise ValueError("concurrency must be > 0 and throughput >= 0")
    warnings = []
    if len(n) < MIN_POINTS:
        warnings.append(f"only {len(n)} points: the USL fit needs at least {MIN_POINTS} to "
                        "be trusted, and its intervals are wide")
    start = np.array([max(x / n), 0.01, 1e-4])

    def residuals(p: np.ndarray) -> np.ndarray:
        return usl_throughput(n, *p) - x

    result = least_squares(residuals, start, bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, 1.0]),
                           x_scale=np.array([max(start[0], 1e-9), 0.01, 1e-4]),
                           xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=10_000)
    gamma, sigma, kappa = (float(v) for v in result.x)
    df = len(n) - 3
    jac = result.jac
    ssr = float(np.sum(result.fun**2))
    names = ("gamma", "sigma", "kappa")
    stderr = dict.fromkeys((*names, "peak_n"), math.nan)
    ci95 = dict.fromkeys((*names, "peak_n"), (math.nan, math.nan))
    peak = math.sqrt((1.0 - sigma) / kappa) if kappa > 0 else math.inf
    if df >= 1:
        s2 = ssr / df
        cov = s2 * np.linalg.pinv(jac.T @ jac)
        q = float(student_t.ppf(0.975, df))
        for k, name in enumerate(names):
            se = math.sqrt(max(cov[k, k], 0.0))
            stderr[name] = se
            ci95[name] = (result.x[k] - q * se, result.x[k] + q * se)
        if math.isfinite(peak):
            # dN*/dsigma = -1 / (2 kappa N*), dN*/dkappa = -N* / (2 kappa)
            grad = np.array([0.0, -1.0 / (2.0 * kappa * peak), -peak / (2.0 * kappa)])
            se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
            stderr["peak_n"] = se
            ci95["peak_n"] = (peak - q * se, peak + q * se)
    if kappa == 0:
        warnings.append("kappa is 0 (no coherency delay seen): no throughput peak in the data")
    return USLFit(gamma, sigma, kappa, ci95, stderr, len(n), df, peak, tuple(warnings))
