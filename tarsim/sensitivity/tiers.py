"""Studies of each tier's recommendation, after the experiment's sweep.

A sensitivity study of several tiers runs its design on each tier's recommended
configuration at the tier's highest load (the study's ``set`` on top), and
analyses each tier on its own: per tier, what decides its answer.

An ensemble carries uncertainty forward to every tier: its members (drawn from the
study's parameter distributions, or from a calibration's fitted values and
intervals) run on each tier's recommended configuration at each of the tier's
loads, giving per tier the prediction bands of its outputs at its highest load
and the probability that the recommendation meets the SLOs at every load. A member
meets the SLOs at a load when its mean metrics over its replications do; the
probability is the share of members that meet them at every load of the tier,
with its Wilson 95% interval.
"""

from __future__ import annotations

import pandas as pd

from tarsim.config import Model
from tarsim.executors import Executor
from tarsim.sensitivity.analysis import analyse, bands, wilson
from tarsim.sensitivity.design import Design
from tarsim.sensitivity.loader import Study
from tarsim.sensitivity.runner import (
    Progress,
    StudyResult,
    outputs_table,
    point_models,
    run_models,
)
from tarsim.sensitivity.study import SLO
from tarsim.sweep.runner import SweepResult
from tarsim.sweep.store import RunStore


def run_tier_ensembles(study: Study, design: Design, sweep: SweepResult, store: RunStore,
                       executor: Executor, progress: Progress | None = None) -> StudyResult:
    """The ensemble of *study* on each tier's recommendation in *sweep*."""
    experiment = study.experiment
    assert experiment is not None
    plan: list[tuple[str, str, str, float, list[Model]]] = []
    everything: list[Model] = []
    for _, rec in sweep.recommendations.iterrows():
        tier, config = str(rec["tier"]), str(rec["config"])
        if tier not in study.tiers:
            continue
        for point in experiment.points:
            if point.tier == tier and point.config == config:
                models = point_models(study, design, base=point.model)
                plan.append((tier, config, str(rec["status"]), point.load, models))
                everything += models
    keys, executed, reused = run_models(everything, study, executor, store, progress)
    frames, start = [], 0
    for tier, config, status, load, models in plan:
        table = outputs_table(study, design, keys[start:start + len(models)], store)
        start += len(models)
        frames.append(table.assign(tier=tier, config=config, status=status, load=load))
    table = pd.concat(frames, ignore_index=True)
    return StudyResult(study, design, table, tier_analysis(study, table), [],
                       executed, reused)


def tier_analysis(study: Study, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``tiers``: per tier, its recommendation and the probability it meets the
    SLOs; ``bands``: per tier and output, the band at the tier's highest load."""
    rows, band_frames = [], []
    for tier, part in table.groupby("tier", sort=False):
        meets_all = part.groupby("point")[SLO].min() if SLO in part else None
        top = part[part["load"] == part["load"].max()]
        band = bands(study, top).assign(tier=tier)
        band_frames.append(band)
        row = {"tier": tier, "config": part["config"].iloc[0],
               "sweep_status": part["status"].iloc[0], "loads": part["load"].nunique(),
               "members": len(top)}
        if meets_all is not None:
            met, n = int(meets_all.sum()), len(meets_all)
            low, high = wilson(met, n)
            row.update({"p_meets_slo": met / n, "ci95_low": low, "ci95_high": high})
        for _, b in band.iterrows():
            if b["output"] in ("p99", "cost"):
                row.update({f"{b['output']}_p2_5": b["p2_5"], f"{b['output']}_p50": b["p50"],
                            f"{b['output']}_p97_5": b["p97_5"]})
        rows.append(row)
    bands_frame = pd.concat(band_frames, ignore_index=True) if band_frames else pd.DataFrame()
    return {"tiers": pd.DataFrame(rows), "bands": bands_frame}


def run_tier_studies(study: Study, design: Design, sweep: SweepResult, store: RunStore,
                     executor: Executor, progress: Progress | None = None) -> StudyResult:
    """The design of *study* on each of its tiers' recommendation in *sweep* (at the
    tier's highest load), each tier analysed on its own."""
    experiment = study.experiment
    assert experiment is not None
    plan: list[tuple[str, str, str, list[Model]]] = []
    everything: list[Model] = []
    for _, rec in sweep.recommendations.iterrows():
        tier = str(rec["tier"])
        if tier in study.tiers:
            point = experiment.points[int(rec["point"])]
            models = point_models(study, design, base=point.model)
            plan.append((tier, str(rec["config"]), str(rec["status"]), models))
            everything += models
    keys, executed, reused = run_models(everything, study, executor, store, progress)
    tables: list[pd.DataFrame] = []
    analyses: dict[str, list[pd.DataFrame]] = {}
    notes: list[str] = []
    start = 0
    for tier, config, status, models in plan:
        table = outputs_table(study, design, keys[start:start + len(models)], store)
        start += len(models)
        tables.append(table.assign(tier=tier, config=config, status=status))
        frames, tier_notes = analyse(study, design, table)
        notes += [f"[{tier}] {n}" for n in tier_notes]
        for name, frame in frames.items():
            analyses.setdefault(name, []).append(frame.assign(tier=tier))
    analysis = {name: pd.concat(parts, ignore_index=True) for name, parts in analyses.items()}
    return StudyResult(study, design, pd.concat(tables, ignore_index=True), analysis, notes,
                       executed, reused)
