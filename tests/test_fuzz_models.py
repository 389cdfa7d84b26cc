"""Random mutations of models/tars.yaml (wrong types, negative numbers, missing keys,
junk units): loading and running either raises a ConfigError or gives a valid run —
never any other exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from conftest import MODELS, key_paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tarsim.config import ConfigError, model_from_data
from tarsim.run import simulate

TARS = yaml.safe_load((MODELS / "tars.yaml").read_text())


PATHS = key_paths(TARS)

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-100, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "-3s", "12 parsecs", "5/fortnight", "1e400", "NaN", "0", "-1",
                     "2 s", "800mss", "5MBB", "abc", "haiku", "poisson", "[]", "{}"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["dist", "mean", "kind", "x", "rate"]),
                    st.sampled_from(["exponential", 1, -1, "lognormal", "closed", "2s"]),
                    max_size=3),
)

mutation = st.tuples(st.sampled_from(PATHS), st.sampled_from(["set", "delete"]), JUNK)


def mutate(data: dict[str, Any], changes: list[tuple[tuple[Any, ...], str, Any]]) -> Any:
    result = copy.deepcopy(data)
    for path, action, value in changes:
        node: Any = result
        try:
            for key in path[:-1]:
                node = node[key]
            if action == "delete":
                del node[path[-1]]
            else:
                node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the place
    return result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=3))
def test_mutated_model_is_refused_or_runs(changes: list[Any]) -> None:
    """Whatever the mutation, the outcome is a ConfigError or a completed short run."""
    data = mutate(TARS, changes)
    try:
        model = model_from_data(data, base_dir=Path(MODELS))
    except ConfigError as exc:
        assert exc.problems, "a ConfigError lists at least one problem"
        return
    rec = simulate(model, duration=5.0, warmup=1.0, seed=3)
    assert rec.end_s >= 5.0
