"""experiments/tiers.yaml: the seed's five tiers crossed with agent counts, three
model mixes and three cache hit rates, valid against models/tars.yaml."""

from __future__ import annotations

import pytest
from conftest import ROOT

from tarsim.config.model import Model
from tarsim.sweep.loader import load_experiment

TIERS = ROOT / "experiments" / "tiers.yaml"
NEEDS = {"routing", "cache"}


@pytest.mark.skipif(not set(Model.model_fields) >= NEEDS,
                    reason="the model format has no routing.mix / cache.context yet "
                           "(they come with the cache and model-mix issue)")
def test_tiers_experiment_is_valid_and_complete():
    """Every tier of the seed is there with its loads, hosts and agents per host,
    crossed with the three mixes and three hit rates; every point validates."""
    experiment = load_experiment(TIERS)
    tiers = {t.name: t for t in experiment.spec.tiers}
    assert list(tiers) == ["baseline", "small", "medium", "large", "enterprise"]
    assert tiers["baseline"].grid["agents.count"] == [2]
    assert min(tiers["small"].rates()) == 10 and max(tiers["small"].rates()) == 50
    assert min(tiers["enterprise"].rates()) == 500 and max(tiers["enterprise"].rates()) == 1000
    # agents.count is per host: the enterprise tier runs 100+ agents in all
    grid = tiers["enterprise"].grid
    assert min(grid["deployment.hosts"]) * min(grid["agents.count"]) >= 80
    assert max(grid["deployment.hosts"]) * max(grid["agents.count"]) >= 100
    mixes = experiment.spec.grid["routing.mix"]
    assert {"haiku": 0.85, "sonnet": 0.10, "opus": 0.05} in mixes
    assert experiment.spec.grid["cache.context.hit_rate"] == [0.0, 0.3, 0.6]
    # the busier tiers also weigh the API plans as tested against raised ones
    plans = {name: max([1] + [len(next(iter(z.values()))) for z in t.zip])
             for name, t in tiers.items()}
    assert plans == {"baseline": 1, "small": 1, "medium": 2, "large": 2, "enterprise": 2}
    per_tier = {name: len(t.rates()) * len(t.grid["agents.count"])
                * len(t.grid["deployment.hosts"]) * 9 * plans[name]
                for name, t in tiers.items()}
    assert len(experiment.points) == sum(per_tier.values())
