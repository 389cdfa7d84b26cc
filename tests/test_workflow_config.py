"""Workflow steps in the model format: today's role lists keep their meaning, and each
rule of the workflow forms refuses bad input with its YAML path (one failing input
per rule)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tarsim.config import ConfigError, model_from_data
from tarsim.config.model import Model
from tarsim.config.workflow import MAX_DEPTH, Branch, Parallel, Repeat, is_plain, role_visits

BASE: dict[str, Any] = {
    "workload": {"arrivals": {"kind": "poisson", "rate": 1.0},
                 "classes": [{"name": "job", "steps": ["server"]}]},
    "agents": {"count": 1},
    "roles": {"server": {"work": 1.0}, "checker": {"work": 0.5}},
}


def _load(steps: Any) -> Model:
    data = copy.deepcopy(BASE)
    data["workload"]["classes"][0]["steps"] = steps
    return model_from_data(data, base_dir=".")


def _problem(steps: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(steps)
    problems = caught.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    return str(problems[0])


def test_a_list_of_role_names_is_still_a_plain_sequence() -> None:
    """`steps: [a, b]` validates to the same list of names and runs on the plain path."""
    steps = _load(["server", "checker"]).workload.classes[0].steps
    assert steps == ["server", "checker"]
    assert is_plain(steps)


def test_the_forms_validate_and_nest() -> None:
    """Each form validates to its own type, nested forms included."""
    steps = _load([
        {"parallel": ["server", {"steps": ["server", "checker"]}], "join": "first_success"},
        {"repeat": [{"branch": [{"p": 0.5}, {"p": 0.5, "steps": ["checker"]}]}], "stop": 0.5},
    ]).workload.classes[0].steps
    assert isinstance(steps[0], Parallel) and steps[0].join == "first_success"
    assert isinstance(steps[1], Repeat) and isinstance(steps[1].repeat[0], Branch)
    assert not is_plain(steps)


def test_role_visits_weigh_loops_and_branches() -> None:
    """Mean visits per request: a loop with stop 0.25 runs 4 rounds on average; a
    branch alternative with p 0.3 runs 0.3 times; parallel steps each run once."""
    steps = _load([
        {"parallel": ["server", "server"]},
        {"repeat": ["checker"], "stop": 0.25},
        {"branch": [{"p": 0.3, "steps": ["server"]}, {"p": 0.7}]},
    ]).workload.classes[0].steps
    assert role_visits(steps) == pytest.approx({"server": 2.3, "checker": 4.0})


def test_empty_parallel_is_refused() -> None:
    """A parallel step with no steps names its path."""
    message = _problem(["server", {"parallel": []}])
    assert message.startswith("workload.classes[0].steps[1].parallel")
    assert "at least 1" in message


def test_branch_probabilities_must_sum_to_one() -> None:
    """Probabilities 0.5 + 0.4 are refused, with the sum shown."""
    message = _problem([{"branch": [{"p": 0.5, "steps": ["server"]}, {"p": 0.4}]}])
    assert message.startswith("workload.classes[0].steps[0]")
    assert "sum to 1" in message and "0.9" in message


def test_a_loop_needs_a_stopping_rule() -> None:
    """A repeat with neither times nor stop is refused."""
    message = _problem([{"repeat": ["server"]}])
    assert message.startswith("workload.classes[0].steps[0]")
    assert "stopping rule" in message


def test_a_loop_that_never_stops_is_refused() -> None:
    """stop 0 with no max would loop for ever."""
    assert "never stops" in _problem([{"repeat": ["server"], "stop": 0}])


def test_an_unknown_role_deep_inside_is_named_by_its_path() -> None:
    """A misspelt role inside a sequence inside a parallel step: its full path and a
    "did you mean"."""
    message = _problem([{"parallel": ["server", {"steps": ["server", "checkr"]}]}])
    assert message.startswith("workload.classes[0].steps[0].parallel[1].steps[1]")
    assert "did you mean 'checker'" in message


def test_nesting_past_the_limit_is_refused() -> None:
    """Forms nested more than MAX_DEPTH deep are refused at the first one too deep."""
    step: Any = "server"
    for _ in range(MAX_DEPTH + 2):
        step = {"steps": [step]}
    message = _problem([step])
    assert f"more than {MAX_DEPTH} deep" in message
    # the class's own steps[0] is form 1; the path stops at form MAX_DEPTH + 1
    assert message.split(":")[0].count(".steps[0]") == MAX_DEPTH + 1


def test_a_misspelt_form_gets_a_did_you_mean() -> None:
    """{paralel: [...]} is read as a parallel step with an unknown key, which gets a
    "did you mean"; a mapping like no form lists the forms."""
    with pytest.raises(ConfigError) as caught:
        _load([{"paralel": ["server"]}])
    messages = [str(p) for p in caught.value.problems]
    assert ("workload.classes[0].steps[0].paralel: unknown key; did you mean 'parallel'?"
            in messages)
    message = _problem([{"whatever": ["server"]}])
    assert "one of parallel, repeat, branch, role, steps" in message


def test_join_k_cannot_exceed_the_parallel_steps() -> None:
    """join: 3 over two steps is refused."""
    assert "at most the number of parallel steps (2)" in _problem(
        [{"parallel": ["server", "server"], "join": 3}])


def test_a_context_that_never_grows_is_refused() -> None:
    """context with grow and carry both 0 says nothing: refused."""
    message = _problem([{"repeat": ["server"], "times": 3, "context": {"tool_tokens": 10}}])
    assert "never grows" in message


def test_a_loop_takes_times_or_stop_not_both() -> None:
    """times and stop together are two stopping rules: refused."""
    assert "not both" in _problem([{"repeat": ["server"], "times": 3, "stop": 0.5}])


def test_branch_alternative_names_are_unique() -> None:
    """Two alternatives named alike could not be told apart in counts: refused."""
    message = _problem([{"branch": [{"p": 0.5, "name": "x"}, {"p": 0.5, "name": "x"}]}])
    assert "names must be unique" in message
