"""Randomness: the same seed gives byte-identical output, and configurations share
the random numbers of every source they have in common (common random numbers)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from conftest import MODELS

from tarsim import api
from tarsim.cli import main
from tarsim.components.streams import Streams
from tarsim.config import with_overrides


def test_same_seed_same_bytes() -> None:
    """Two runs of `tarsim run --format json` with one seed print identical bytes."""
    args = ["run", str(MODELS / "tars.yaml"), "--duration", "60s", "-r", "2", "--seed", "11",
            "--format", "json"]
    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output


def test_different_seeds_differ() -> None:
    """A different seed gives different numbers (the seed is really used)."""
    model = api.load_model(MODELS / "tars.yaml")
    a = api.run(model, duration=60, seed=1).summary
    b = api.run(model, duration=60, seed=2).summary
    assert a["latency"]["p99"] != b["latency"]["p99"]


def test_agent_count_leaves_arrivals_untouched() -> None:
    """Open-loop arrival times and classes do not depend on agents.count: the arrival
    stream is keyed by its own name, not by the order components draw."""
    model = with_overrides(api.load_model(MODELS / "tars.yaml"),
                           {"workload.arrivals": {"kind": "poisson", "rate": "20/s"}})
    runs = [api.run(with_overrides(model, {"agents.count": n}), duration=60, seed=5)
            for n in (3, 12)]
    a, b = (r.requests().sort_values("arrival") for r in runs)
    assert np.array_equal(a["arrival"].to_numpy(), b["arrival"].to_numpy())
    assert np.array_equal(a["cls"].to_numpy(), b["cls"].to_numpy())


def test_replications_are_independent_of_order() -> None:
    """Replication r has the same numbers whether run alone or after others."""
    model = api.load_model(MODELS / "tars.yaml")
    together = api.run(model, duration=30, seed=3, replications=3).replications[2]
    from tarsim import metrics
    from tarsim.run import simulate

    alone = metrics.summarize(simulate(model, duration=30, warmup=3, seed=3, replication=2))
    assert json.dumps(together, sort_keys=True) == json.dumps(alone, sort_keys=True)


def test_streams_are_distinct_and_reproducible() -> None:
    """Each named stream is its own generator; the same key gives the same numbers,
    another name, replication or seed gives others; a name is handed out once."""
    draw = lambda seed, rep, name: Streams(seed, rep)(name).random(4).tolist()  # noqa: E731
    assert draw(1, 0, "a") == draw(1, 0, "a")
    assert len({tuple(draw(1, 0, "a")), tuple(draw(1, 0, "b")), tuple(draw(1, 1, "a")),
                tuple(draw(2, 0, "a"))}) == 4
    streams = Streams(1, 0)
    streams("x")
    try:
        streams("x")
    except ValueError as exc:
        assert "already" in str(exc)
    else:
        raise AssertionError("a stream name was handed out twice")
