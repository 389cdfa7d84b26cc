"""Confidence intervals that hold at the sample sizes a run has: latency quantiles
pooled over replications, with a sectioning interval; error rates with a Wilson
score interval on pooled counts, widened by the spread between replications.

Quantiles. Each replication keeps a sketch of its latencies (the order statistics
at the probability levels ``LEVELS``, exact at every level a report uses) and
the quantiles of ``SECTIONS`` consecutive sections of its requests (by arrival).
The point estimate of a quantile is that of all replications pooled (the mixture
of their distributions): not the mean of per-replication quantiles, which is
biased low for a high quantile of a short run. Its interval is by sectioning
(Asmussen & Glynn 2007, §IV.5; Nakayama 2014): pooled estimate ± t(m−1) · s/√m,
s the standard deviation of the m section estimates; widened where needed to the
same interval on the log scale with whole replications as sections (independent,
where consecutive sections of one run are not: a long busy period lifts them all),
and to the distribution-free order-statistic interval of the pooled samples (the ranks
N·q ± z·√(N·q(1−q)): exact for independent samples, and never wider than the truth
needs for positively correlated ones). Sectioning alone covers about 93 % at 5
replications of 2000 samples even for independent ones, as the section quantiles
are skewed and their standard deviation often underestimated; the union covers
about 94 % on random M/M/c queues at three replications (test_coverage_tails.py).
A quantile gets an interval only when sections (or whole replications) have at
least ``MIN_BEYOND`` samples beyond it; otherwise its bounds are (−inf, inf): the
data cannot decide it.

Error rates. With x_i errors in n_i arrivals per replication, p̂ = Σx/Σn; the
variance between replications against the binomial one gives Pearson's
dispersion φ̂ (errors come in bursts: a bucket empties, a queue fills); the
interval is Wilson's with z² = max(z₉₇.₅², t(k−1)²·φ̂) (a quasi-binomial interval,
McCullagh & Nelder 1989 §4.5). It is never zero-width: with no error at all its
upper end is z²/(N + z²).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

LEVELS = np.unique(np.round(np.concatenate([
    np.arange(0.0, 0.9, 0.01), np.arange(0.9, 0.99, 0.001), np.arange(0.99, 1.0, 0.0001),
    [1.0]]), 6))
"""Probability levels of a replication's latency sketch (every percentile, every
0.1 % above 90 %, every 0.01 % above 99 %)."""
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
SECTIONS = 4
"""Consecutive sections per replication for the sectioning interval."""
MIN_BEYOND = 5
"""Samples a section needs beyond a quantile (p99: 500 samples) for its estimate."""
Z95 = 1.959963984540054
SKETCH = "samples"
"""The summary key of a run's latency sketch."""


def _t(df: int) -> float:
    from scipy.stats import t  # imported here: scipy.stats is slow to import

    return float(t.ppf(0.975, df))


# ---------------------------------------------------------------- one replication
def sketch(latency: np.ndarray, arrival: np.ndarray | None = None) -> dict[str, Any]:
    """What a replication keeps of its latencies for pooled quantiles: the count, the
    order statistics at ``LEVELS`` and each section's quantiles (``QUANTILES``),
    sections taken in order of *arrival*."""
    n = len(latency)
    if n == 0:
        return {"n": 0, "sketch": [], **{f"sections_{k}": [] for k in QUANTILES}}
    ordered = latency if arrival is None else latency[np.argsort(arrival, kind="stable")]
    parts = np.array_split(ordered, SECTIONS)
    out: dict[str, Any] = {"n": n, "sketch": np.quantile(latency, LEVELS).tolist()}
    for name, q in QUANTILES.items():
        out[f"sections_{name}"] = [
            float(np.quantile(p, q)) if len(p) * (1 - q) >= MIN_BEYOND else math.nan
            for p in parts]
    return out


# ---------------------------------------------------------------- pooled quantiles
def pooled_quantile(sketches: Sequence[Sequence[float]], counts: Sequence[int],
                    q: float) -> float:
    """The *q*-quantile of the replications pooled: the x where the count-weighted
    mixture of their (linearly interpolated) distribution functions reaches *q*."""
    used = [(np.asarray(s, dtype=float), n) for s, n in zip(sketches, counts, strict=True)
            if n > 0 and len(s) == len(LEVELS)]
    if not used:
        return math.nan
    if len(used) == 1:
        return float(np.interp(q, LEVELS, used[0][0]))
    total = sum(n for _, n in used)
    xs = np.unique(np.concatenate([s for s, _ in used]))
    mixture = sum(n * np.interp(xs, s, LEVELS, left=0.0, right=1.0) for s, n in used) / total
    k = int(np.searchsorted(mixture, q, side="left"))
    if k <= 0:
        return float(xs[0])
    if k >= len(xs):
        return float(xs[-1])
    f0, f1 = mixture[k - 1], mixture[k]
    frac = 0.0 if f1 == f0 else (q - f0) / (f1 - f0)
    return float(xs[k - 1] + frac * (xs[k] - xs[k - 1]))


def quantile_interval(runs: Sequence[Mapping[str, Any]], name: str) -> tuple[float, float,
                                                                             float]:
    """(estimate, lower, upper) of quantile *name* (``p99``) over *runs*, each a
    :func:`sketch`. Bounds are ±inf when the samples are too few to decide it."""
    q = QUANTILES[name]
    counts = [int(r["n"]) for r in runs]
    estimate = pooled_quantile([r["sketch"] for r in runs], counts, q)
    if not math.isfinite(estimate) or sum(counts) * (1 - q) < 2 * MIN_BEYOND:
        return estimate, -math.inf, math.inf
    sketches = [r["sketch"] for r in runs]
    low, high = estimate, estimate
    sections = [v for r in runs for v in r[f"sections_{name}"]]
    if len(sections) >= 2 and all(math.isfinite(v) and v > 0 for v in sections):
        low, high = _t_bounds(estimate, sections, low, high)
    # whole replications as sections, on the log scale (their quantiles are right-skewed)
    whole = [float(np.interp(q, LEVELS, r["sketch"])) for r in runs
             if r["n"] * (1 - q) >= MIN_BEYOND]
    if len(whole) >= 2 and len(whole) == len(runs) and min(whole) > 0:
        half = _t(len(whole) - 1) * float(np.std(np.log(whole), ddof=1)) / math.sqrt(len(whole))
        low, high = min(low, estimate * math.exp(-half)), max(high, estimate * math.exp(half))
    if low == high:
        return estimate, -math.inf, math.inf
    # the order-statistic interval the pooled samples would have if independent
    spread = Z95 * math.sqrt(q * (1 - q) / sum(counts))
    low = min(low, pooled_quantile(sketches, counts, q - spread))
    high = max(high, pooled_quantile(sketches, counts, min(1.0, q + spread)))
    return estimate, low, high


def _t_bounds(estimate: float, sections: Sequence[float], low: float,
              high: float) -> tuple[float, float]:
    m = len(sections)
    half = _t(m - 1) * float(np.std(sections, ddof=1)) / math.sqrt(m)
    return min(low, estimate - half), max(high, estimate + half)


# ---------------------------------------------------------------- error rates
def rate_interval(events: Sequence[float], trials: Sequence[float]) -> tuple[float, float,
                                                                           float]:
    """(pooled rate, lower, upper): Wilson's interval on the pooled counts with the
    quasi-binomial z² (see the module docstring). No trial at all gives (nan, 0, 1)."""
    x = np.asarray(events, dtype=float)
    n = np.asarray(trials, dtype=float)
    total = float(n.sum())
    if total <= 0:
        return math.nan, 0.0, 1.0
    p = float(x.sum()) / total
    z2 = Z95 ** 2
    k = int((n > 0).sum())
    if k >= 2 and 0.0 < p < 1.0:
        used = n > 0
        expected = n[used] * p
        chi2 = float((((x[used] - expected) ** 2) / (expected * (1 - p))).sum())
        z2 = max(z2, _t(k - 1) ** 2 * chi2 / (k - 1))
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = math.sqrt(z2) / (1 + z2 / total) * math.sqrt(p * (1 - p) / total
                                                        + z2 / (4 * total ** 2))
    low = 0.0 if p == 0.0 else max(0.0, centre - half)
    return p, low, min(1.0, centre + half)


# ---------------------------------------------------------------- replications
def pooled_bounds(runs: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """(estimate, lower, upper) of each latency quantile (``latency.p99``) and of the
    error rate over *runs*: flat run summaries with ``samples.*`` sketches and
    ``arrived`` and ``error_rate``."""
    out: dict[str, tuple[float, float, float]] = {}
    sketches = [_sketch_of(r) for r in runs]
    if all(s is not None for s in sketches):
        for name in QUANTILES:
            out[f"latency.{name}"] = quantile_interval(sketches, name)  # type: ignore[arg-type]
    arrived = [float(r.get("arrived", 0) or 0) for r in runs]
    failed = [float(r.get("error_rate", 0) or 0) * a for r, a in zip(runs, arrived,
                                                                       strict=True)]
    out["error_rate"] = rate_interval([round(f) for f in failed], arrived)
    return out


def _sketch_of(run: Mapping[str, Any]) -> dict[str, Any] | None:
    prefix = SKETCH + "."
    found = {k[len(prefix):]: v for k, v in run.items() if k.startswith(prefix)}
    if "n" not in found:
        nested = run.get(SKETCH)
        return dict(nested) if isinstance(nested, Mapping) else None
    return found
