"""Distributions: each sampler's draws match its specification (means, quantiles),
judged with tolerances from the sampling error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter

from tarsim.components.sampling import REGISTRY, sampler
from tarsim.config.distributions import Z99, DurationDist, NumberDist

N = 100_000
DURATION = TypeAdapter(DurationDist)


def draws(spec: object, seed: int = 1, base_dir: Path = Path(".")) -> np.ndarray:
    draw = sampler(DURATION.validate_python(spec), np.random.default_rng(seed), base_dir)
    return np.array([draw() for _ in range(N)])


def within_mean(x: np.ndarray, mean: float, sd: float) -> None:
    """The sample mean is within 4.5 standard errors of the true mean (false-alarm
    probability below 1e-5 per check)."""
    assert abs(x.mean() - mean) < 4.5 * sd / math.sqrt(len(x)), (x.mean(), mean)


def test_constant() -> None:
    """A bare duration is a constant."""
    assert set(draws("250ms").tolist()) == {0.25}


def test_exponential() -> None:
    """Exponential(mean 2): mean 2, sd 2, median 2 ln 2."""
    x = draws({"dist": "exponential", "mean": "2s"})
    within_mean(x, 2.0, 2.0)
    assert abs(np.median(x) - 2 * math.log(2)) < 0.03


def test_uniform() -> None:
    """Uniform(2, 3): mean 2.5, sd 1/sqrt(12), support [2, 3]."""
    x = draws({"dist": "uniform", "low": 2, "high": 3})
    within_mean(x, 2.5, 1 / math.sqrt(12))
    assert x.min() >= 2 and x.max() <= 3


def test_lognormal_by_median_and_p99() -> None:
    """Lognormal given median 0.6 s and p99 2 s: those are its median and p99 (the p99 of
    1e5 draws has a standard error about 0.3% of itself here, so 3% is generous)."""
    x = draws({"dist": "lognormal", "median": "600ms", "p99": "2s"})
    assert np.median(x) == pytest.approx(0.6, rel=0.01)
    assert np.quantile(x, 0.99) == pytest.approx(2.0, rel=0.03)
    sigma = math.log(2.0 / 0.6) / Z99
    within_mean(x, 0.6 * math.exp(sigma**2 / 2),
                0.6 * math.exp(sigma**2 / 2) * math.sqrt(math.exp(sigma**2) - 1))


def test_lognormal_by_mean_and_cv() -> None:
    """Lognormal given mean 3000 and cv 0.5 has that mean and sd 1500."""
    draw = sampler(TypeAdapter(NumberDist).validate_python(
        {"dist": "lognormal", "mean": 3000, "cv": 0.5}), np.random.default_rng(2))
    x = np.array([draw() for _ in range(N)])
    within_mean(x, 3000, 1500)
    assert x.std() == pytest.approx(1500, rel=0.03)


def test_gamma_by_mean_and_cv() -> None:
    """Gamma given mean 1 and cv 2 has that mean and sd 2."""
    x = draws({"dist": "gamma", "mean": 1, "cv": 2})
    within_mean(x, 1.0, 2.0)
    assert x.std() == pytest.approx(2.0, rel=0.05)


def test_empirical_resamples_its_column(tmp_path: Path) -> None:
    """An empirical distribution draws the column's values with equal probability."""
    (tmp_path / "lat.csv").write_text("ms\n100\n200\n600\n")
    x = draws({"dist": "empirical", "file": "lat.csv", "column": "ms", "scale": 0.001},
              base_dir=tmp_path)
    assert set(np.round(x, 9).tolist()) == {0.1, 0.2, 0.6}
    within_mean(x, 0.3, float(np.std([0.1, 0.2, 0.6])))


def test_registry_refuses_duplicates_and_lists_names() -> None:
    """The registry refuses a second builder under a name, and names the known ones."""
    with pytest.raises(ValueError, match="already registered"):
        REGISTRY.register("exponential", REGISTRY["exponential"])
    with pytest.raises(ValueError, match=r"known: .*lognormal"):
        REGISTRY.lookup("weibull")


def test_draws_do_not_depend_on_batching() -> None:
    """Drawing through the batched sampler gives numpy's own stream, in order."""
    draw = sampler(DURATION.validate_python({"dist": "exponential", "mean": 1}),
                   np.random.default_rng(9))
    mine = [draw() for _ in range(1500)]
    rng = np.random.default_rng(9)
    reference = [x for _ in range(3) for x in rng.exponential(1, 512).tolist()]
    assert mine == reference[:1500]


def test_every_distribution_name_has_a_sampler() -> None:
    """The names the model format accepts (config) and the samplers the components
    build (runtime) are the same set."""
    from tarsim.config.distributions import DISTRIBUTIONS

    assert set(REGISTRY) == set(DISTRIBUTIONS)


def test_a_loaded_model_pickles() -> None:
    """models/tars.yaml's model survives a pickle round trip unchanged - equal, with
    the same data directory and the same distribution classes - so a process pool
    can ship it without dumping and re-validating it."""
    import pickle

    from tarsim.api import load_model

    root = Path(__file__).resolve().parent.parent
    model = load_model(root / "models/tars.yaml")
    copy = pickle.loads(pickle.dumps(model))
    assert copy == model
    assert copy.base_dir == model.base_dir
    assert type(copy.agents.spawn) is type(model.agents.spawn)


def test_every_distribution_class_pickles() -> None:
    """A spec of each family and unit pickles to an equal spec of the same class."""
    import pickle

    number = TypeAdapter(NumberDist)
    specs = [{"dist": "constant", "value": 2}, {"dist": "exponential", "mean": 1},
             {"dist": "uniform", "low": 1, "high": 2},
             {"dist": "lognormal", "median": 1, "p99": 3}, {"dist": "gamma", "mean": 1, "cv": 2},
             {"dist": "empirical", "file": "x.csv", "column": "c"}]
    for adapter in (DURATION, number):
        for data in specs:
            spec = adapter.validate_python(data)
            copy = pickle.loads(pickle.dumps(spec))
            assert copy == spec and type(copy) is type(spec), data
