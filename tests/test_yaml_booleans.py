"""Model files read only true/false as booleans, so that keys such as ``retry.on``
are read as written (YAML 1.1 reads ``on``, ``off``, ``yes``, ``no`` as booleans)."""

from __future__ import annotations

import yaml
from conftest import mmc_data

from tarsim.config import load_model


def test_retry_on_is_a_key(write_model):
    """``retry: {on: [api_error]}`` in a file sets the retried failures."""
    text = ("workload:\n  arrivals: {kind: poisson, rate: 1}\n"
            "  classes: [{name: job, steps: [server]}]\n"
            "agents: {count: 1}\nroles: {server: {work: 1}}\n"
            "retry: {attempts: 2, on: [api_error]}\n")
    model = load_model(write_model(text))
    assert model.retry is not None and model.retry.on == ("api_error",)


def test_yes_and_true_are_still_booleans_where_one_is_wanted(write_model):
    """``streaming: yes``, ``on`` and ``true`` all switch streaming on."""
    for word in ("yes", "on", "true"):
        data = mmc_data(1.0, 2.0, 1, memory={"per_request": 1, "streaming": "WORD"})
        text = yaml.safe_dump(data, sort_keys=False).replace("WORD", word)
        model = load_model(write_model(text))
        assert model.memory is not None and model.memory.streaming is True, word
