"""What a study's outputs say, by method: a tornado (one-at-a-time swings), Morris
elementary effects (mu*, sigma, with bootstrap CIs), Sobol first- and total-order
indices (with bootstrap CIs), or an ensemble's prediction bands and the
probability of meeting the SLOs; and the "what decides this answer" table.

Morris and Sobol are SALib's estimators, applied to the outputs of the unit-cube
design they sampled. An output that is undefined at some design point (no
successful request, so no p99) cannot be analysed by them; it is left out with a
note.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tarsim.sensitivity.design import Design
from tarsim.sensitivity.loader import Study
from tarsim.sensitivity.study import ENSEMBLE, MORRIS, OAT, SLO, SOBOL

CONF_LEVEL = 0.95
RESAMPLES = 200
"""Bootstrap resamples behind SALib's CIs."""


def analyse(study: Study, design: Design,
            table: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The method's tables (by name) and notes on what could not be analysed."""
    method = design.method
    notes: list[str] = []
    if method == OAT:
        return {"tornado": tornado(study, table)}, notes
    if method == ENSEMBLE:
        return {"bands": bands(study, table), "slo": slo_probability(table)}, notes
    frames = []
    for name in study.outputs:
        y = table[name].to_numpy(dtype=float)
        if not np.isfinite(y).all():
            notes.append(f"{name}: undefined at {int((~np.isfinite(y)).sum())} of {len(y)} "
                         "design points, not analysed")
            continue
        if np.ptp(y) == 0:
            notes.append(f"{name}: the same at every design point ({y[0]:g}), not analysed")
            continue
        frames.append((sobol if method == SOBOL else morris)(study, design, name, y))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if method == SOBOL:
        return {"sobol": frame, "decides": what_decides(frame)}, notes
    return {"morris": frame}, notes


def sobol(study: Study, design: Design, name: str, y: np.ndarray) -> pd.DataFrame:
    """Sobol first-order (S1) and total-order (ST) indices of output *name*."""
    from SALib.analyze import sobol as sobol_analyze

    si = sobol_analyze.analyze(design.problem, y, calc_second_order=False,
                               num_resamples=RESAMPLES, conf_level=CONF_LEVEL,
                               seed=study.spec.seed)
    return pd.DataFrame({
        "output": name, "parameter": [p.path for p in study.parameters],
        "label": [p.label for p in study.parameters],
        "S1": si["S1"], "S1_conf": si["S1_conf"], "ST": si["ST"], "ST_conf": si["ST_conf"],
    })


def morris(study: Study, design: Design, name: str, y: np.ndarray) -> pd.DataFrame:
    """Morris elementary effects of output *name* per unit of each parameter's range
    (the unit cube): mu, mu* (with its CI) and sigma."""
    from SALib.analyze import morris as morris_analyze

    si = morris_analyze.analyze(design.problem, design.unit, y, num_resamples=RESAMPLES,
                                conf_level=CONF_LEVEL, num_levels=study.spec.levels,
                                seed=study.spec.seed)
    return pd.DataFrame({
        "output": name, "parameter": [p.path for p in study.parameters],
        "label": [p.label for p in study.parameters],
        "mu": si["mu"], "mu_star": si["mu_star"], "mu_star_conf": si["mu_star_conf"],
        "sigma": si["sigma"],
    })


def tornado(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """Each parameter's low and high end (others at base) and each output there,
    sorted within an output by the swing |high - low|, largest first."""
    base = table[table["role"] == "base"].iloc[0]
    rows = []
    for p in study.parameters:
        low = table[table["role"] == f"{p.path}:low"].iloc[0]
        high = table[table["role"] == f"{p.path}:high"].iloc[0]
        for name in study.outputs:
            rows.append({
                "output": name, "parameter": p.path, "label": p.label,
                "low_value": low[p.path], "high_value": high[p.path], "base_value": p.base,
                "at_low": low[name], "at_high": high[name], "at_base": base[name],
                "swing": abs(float(high[name]) - float(low[name])),
            })
    frame = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(study.outputs)}
    frame["_o"] = frame["output"].map(order)
    frame = frame.sort_values(["_o", "swing"], ascending=[True, False], kind="stable")
    return frame.drop(columns="_o").reset_index(drop=True)


def bands(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """Each output's prediction band over the ensemble: mean, sd, and the 2.5%,
    50% and 97.5% quantiles of its members."""
    rows = []
    for name in study.outputs:
        y = table[name].to_numpy(dtype=float)
        y = y[np.isfinite(y)]
        rows.append({"output": name, "members": len(y),
                     "mean": float(y.mean()) if len(y) else math.nan,
                     "sd": float(y.std(ddof=1)) if len(y) > 1 else math.nan,
                     "p2_5": float(np.quantile(y, 0.025)) if len(y) else math.nan,
                     "p50": float(np.quantile(y, 0.5)) if len(y) else math.nan,
                     "p97_5": float(np.quantile(y, 0.975)) if len(y) else math.nan})
    return pd.DataFrame(rows)


def wilson(successes: int, n: int, level: float = CONF_LEVEL) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (never zero-width)."""
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def slo_probability(table: pd.DataFrame) -> pd.DataFrame:
    """The share of ensemble members that meet every SLO, with its Wilson 95% CI."""
    if SLO not in table:
        return pd.DataFrame()
    met = int(table[SLO].sum())
    n = len(table)
    low, high = wilson(met, n)
    return pd.DataFrame([{"members": n, "meet": met, "probability": met / n,
                          "ci95_low": low, "ci95_high": high}])


def what_decides(result_sobol: pd.DataFrame, outputs: tuple[str, ...] = ("p99", "cost"),
                 top: int = 3) -> pd.DataFrame:
    """The top *top* parameters by total-order index for each of *outputs* (and, in
    a study of several tiers, for each tier)."""
    rows: list[dict[str, Any]] = []
    if result_sobol.empty:
        return pd.DataFrame(rows)
    by_tier = "tier" in result_sobol
    groups = result_sobol.groupby("tier", sort=False) if by_tier else [("", result_sobol)]
    for tier, frame in groups:
        for name in outputs:
            part = frame[frame["output"] == name]
            part = part.sort_values("ST", ascending=False, kind="stable").head(top)
            for rank, (_, row) in enumerate(part.iterrows(), start=1):
                rows.append({**({"tier": tier} if by_tier else {}), "output": name,
                             "rank": rank, "parameter": row["label"], "ST": row["ST"],
                             "ST_conf": row["ST_conf"], "S1": row["S1"],
                             "S1_conf": row["S1_conf"]})
    return pd.DataFrame(rows)


def ranking(frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The methods' rankings per output, for a summary: parameter paths, most
    influential first."""
    out: dict[str, Any] = {}
    if "sobol" in frames and not frames["sobol"].empty:
        for name, part in frames["sobol"].groupby("output", sort=False):
            out[str(name)] = list(part.sort_values("ST", ascending=False)["parameter"])
    if "morris" in frames and not frames["morris"].empty:
        for name, part in frames["morris"].groupby("output", sort=False):
            out[str(name)] = list(part.sort_values("mu_star", ascending=False)["parameter"])
    if "tornado" in frames:
        for name, part in frames["tornado"].groupby("output", sort=False):
            out[str(name)] = list(part["parameter"])
    return out


METHODS_WITH_INDICES = (SOBOL, MORRIS)
ENSEMBLE_METHOD = ENSEMBLE
