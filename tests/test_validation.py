"""Every validation rule of the model format has a failing input here: the error
names the YAML path, the rule and the value, and nothing but a ConfigError escapes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tarsim.config import ConfigError, apply_overrides, load_model, parse_override
from tarsim.config.units import parse_duration, parse_rate, parse_size

BASE: dict[str, Any] = {
    "name": "base",
    "workload": {
        "arrivals": {"kind": "poisson", "rate": "5/s"},
        "timeout": "30s",
        "classes": [{"name": "a", "weight": 1, "priority": 1, "steps": ["r"]}],
    },
    "router": {"work": "10ms", "queue": {"capacity": 10, "discipline": "fifo"}},
    "agents": {"count": 2, "concurrency": 3, "warm": 1, "spawn": "2s"},
    "roles": {"r": {"work": "5ms", "llm": "m", "calls": 1, "tools": {"t": 1},
                    "input_tokens": 100, "output_tokens": 10}},
    "llms": {"m": {"provider": "p", "price": {"input_per_mtok": 1, "output_per_mtok": 2},
                   "first_token": "500ms", "output_rate": "50/s"}},
    "providers": {"p": {"network": "100ms", "errors": {"rate": 0.01}, "timeout": "60s"}},
    "tools": {"t": {"provider": "p", "work": "200ms"}},
    "memory": {"base": "4MB", "per_agent": "1MB", "per_request": "50KB"},
    "slo": {"p99": "3s", "error_rate": 0.01},
}


def load(tmp_path: Path, overrides: dict[str, Any]) -> Any:
    import yaml

    data = apply_overrides(copy.deepcopy(BASE), overrides)
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_model(path)


def test_base_model_is_valid(tmp_path: Path) -> None:
    """The starting point of every failing case below is itself valid."""
    assert load(tmp_path, {}).agents.count == 2


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, overrides, path reported, words of the rule)
    ("bad duration", {"router.work": "ten ms"}, "router.work", "must be a duration"),
    ("bad rate", {"workload.arrivals.rate": "5 per s"}, "workload.arrivals.rate", "must be a rate"),
    ("bad size", {"memory.base": "4 megs"}, "memory.base", "must be a size"),
    ("negative size", {"memory.per_agent": "-1MB"}, "memory.per_agent", "must be >= 0"),
    ("unknown dist", {"router.work": {"dist": "weibull", "mean": 1}}, "router.work.dist",
     "must be one of"),
    ("dist without name", {"router.work": {"mean": 1}}, "router.work", "needs 'dist'"),
    ("lognormal p99 below median", {"router.work": {"dist": "lognormal", "median": 2, "p99": 1}},
     "router.work", "p99 must be greater than the median"),
    ("lognormal half a pair", {"router.work": {"dist": "lognormal", "median": 2}},
     "router.work", "median and p99 go together"),
    ("lognormal two pairs", {"router.work": {"dist": "lognormal", "median": 1, "p99": 2,
                                             "mean": 1, "cv": 1}},
     "router.work", "give either median and p99, or mean and cv"),
    ("lognormal mean without cv", {"router.work": {"dist": "lognormal", "mean": 1}},
     "router.work", "mean and cv go together"),
    ("negative constant", {"router.work": -1}, "router.work", "must be >= 0"),
    ("uniform reversed", {"router.work": {"dist": "uniform", "low": 2, "high": 1}},
     "router.work", "high must be >= low"),
    ("gamma cv zero", {"router.work": {"dist": "gamma", "mean": 1, "cv": 0}},
     "router.work.cv", "must be > 0"),
    ("exponential mean zero", {"router.work": {"dist": "exponential", "mean": 0}},
     "router.work.mean", "must be > 0"),
    ("unknown key in a dist", {"router.work": {"dist": "exponential", "mean": 1, "sd": 2}},
     "router.work.sd", "unknown key"),
    ("empirical missing file", {"router.work": {"dist": "empirical", "file": "no.csv",
                                                "column": "x"}},
     "router.work.file", "cannot read file"),
    ("unknown arrivals kind", {"workload.arrivals.kind": "bursty"}, "workload.arrivals.kind",
     "must be one of"),
    ("arrivals without kind", {"workload.arrivals": {"rate": 5}}, "workload.arrivals",
     "needs 'kind'"),
    ("zero rate", {"workload.arrivals.rate": 0}, "workload.arrivals.rate", "must be > 0"),
    ("closed without users", {"workload.arrivals": {"kind": "closed"}},
     "workload.arrivals.users", "is required"),
    ("closed zero users", {"workload.arrivals": {"kind": "closed", "users": 0}},
     "workload.arrivals.users", "must be >= 1"),
    ("ramp to nothing", {"workload.arrivals": {"kind": "ramp", "from": 0, "to": 0, "over": 10}},
     "workload.arrivals", "from and to cannot both be 0"),
    ("ramp zero length", {"workload.arrivals": {"kind": "ramp", "from": 1, "to": 5, "over": 0}},
     "workload.arrivals.over", "must be > 0"),
    ("steps out of order", {"workload.arrivals": {"kind": "steps", "steps": [
        {"at": 10, "rate": 1}, {"at": 5, "rate": 2}]}},
     "workload.arrivals", "strictly increasing"),
    ("no steps", {"workload.arrivals": {"kind": "steps", "steps": []}},
     "workload.arrivals.steps", "at least 1"),
    ("trace missing file", {"workload.arrivals": {"kind": "trace", "file": "none.csv"}},
     "workload.arrivals.file", "cannot read trace"),
    ("timeout zero", {"workload.timeout": "0s"}, "workload.timeout", "must be > 0"),
    ("no classes", {"workload.classes": []}, "workload.classes", "at least 1"),
    ("duplicate class", {"workload.classes": [{"name": "a", "steps": ["r"]},
                                              {"name": "a", "steps": ["r"]}]},
     "workload", "class names must be unique"),
    ("class weight zero", {"workload.classes[0].weight": 0}, "workload.classes[0].weight",
     "must be > 0"),
    ("class without steps", {"workload.classes[0].steps": []}, "workload.classes[0].steps",
     "at least 1"),
    ("class step unknown", {"workload.classes[0].steps": ["x"]},
     "workload.classes[0].steps[0]", "must name one of roles"),
    ("priority not a number", {"workload.classes[0].priority": "high"},
     "workload.classes[0].priority", "must be a whole number"),
    ("queue capacity negative", {"router.queue.capacity": -1}, "router.queue.capacity",
     "must be >= 0"),
    ("queue discipline unknown", {"router.queue.discipline": "lifo"}, "router.queue.discipline",
     "must be 'fifo' or 'priority'"),
    ("agents count zero", {"agents.count": 0}, "agents.count", "must be >= 1"),
    ("agents count fractional", {"agents.count": 2.5}, "agents.count", "whole number"),
    ("concurrency zero", {"agents.concurrency": 0}, "agents.concurrency", "must be >= 1"),
    ("warm above count", {"agents.warm": 3}, "agents", "warm must be <= count"),
    ("warm negative", {"agents.warm": -1}, "agents.warm", "must be >= 0"),
    ("no roles", {"roles": {}}, "roles", "at least 1"),
    ("calls without llm", {"roles.r": {"calls": 2}, "workload.classes[0].steps": ["r"]},
     "roles.r", "no llm is named"),
    ("negative calls", {"roles.r.calls": -1}, "roles.r.calls", "must be >= 0"),
    ("negative tool count", {"roles.r.tools.t": -1}, "roles.r.tools.t", "must be >= 0"),
    ("role llm unknown", {"roles.r.llm": "mm"}, "roles.r.llm", "must name one of llms"),
    ("role tool unknown", {"roles.r.tools": {"x": 1}}, "roles.r.tools.x",
     "must name one of tools"),
    ("negative price", {"llms.m.price.input_per_mtok": -1}, "llms.m.price.input_per_mtok",
     "must be >= 0"),
    ("output rate zero", {"llms.m.output_rate": 0}, "llms.m.output_rate", "must be > 0"),
    ("llm provider unknown", {"llms.m.provider": "q"}, "llms.m.provider",
     "must name one of providers"),
    ("error rate above 1", {"providers.p.errors.rate": 1.5}, "providers.p.errors.rate",
     "must be <= 1"),
    ("error rate negative", {"providers.p.errors.rate": -0.1}, "providers.p.errors.rate",
     "must be >= 0"),
    ("provider timeout zero", {"providers.p.timeout": 0}, "providers.p.timeout", "must be > 0"),
    ("slowdown loads not increasing", {"providers.p.slowdown": [[10, 1.0], [5, 2.0]]},
     "providers.p", "slowdown points must have strictly increasing loads"),
    ("slowdown factor zero", {"providers.p.slowdown": [[10, 0]]}, "providers.p.slowdown[0][1]",
     "must be > 0"),
    ("reserved memory negative", {"memory.reserved": "-1MB"}, "memory.reserved",
     "must be >= 0"),
    ("tool provider unknown", {"tools.t.provider": "q"}, "tools.t.provider",
     "must name one of providers"),
    ("slo error rate above 1", {"slo.error_rate": 2}, "slo.error_rate", "must be <= 1"),
    ("unknown top-level key", {"agnets": {"count": 1}}, "agnets", "unknown key"),
    ("unknown nested key", {"agents.cont": 1}, "agents.cont", "unknown key"),
    ("section not a mapping", {"router": "fast"}, "router", "must be a mapping"),
    ("missing workload", {"workload": None}, "workload", "must be a mapping"),
    ("name not a string", {"name": ["x"]}, "name", "must be a string"),
]


@pytest.mark.parametrize(("overrides", "path", "rule"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(tmp_path: Path, overrides: dict[str, Any], path: str, rule: str) -> None:
    """The broken rule is reported at its path, with words that explain it."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, overrides)
    found = [(p.path, str(p)) for p in info.value.problems]
    assert any(p == path and rule in text for p, text in found), found


def test_did_you_mean_for_keys_and_names(tmp_path: Path) -> None:
    """A misspelt key or reference is answered with the closest known name."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, {"agents.concurency": 2, "roles.r.llm": "n", "workload.classes[0].steps":
                        ["rr"]})
    text = str(info.value)
    assert "agents.concurency" in text and "did you mean 'concurrency'?" in text
    assert "did you mean 'r'?" in text


def test_every_problem_is_listed_at_once_with_lines(tmp_path: Path) -> None:
    """Three independent mistakes give one error with three problems, each with its line."""
    text = (
        "workload:\n"
        "  arrivals: {kind: poisson, rate: -1}\n"
        "  classes: [{name: a, steps: [nope]}]\n"
        "agents: {count: 0}\n"
        "roles: {r: {work: 1s}}\n"
    )
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_model(path)
    lines = {p.path: p.line for p in info.value.problems}
    assert lines == {"workload.arrivals.rate": 2, "workload.classes[0].steps[0]": 3,
                     "agents.count": 4}


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """Malformed YAML is a ConfigError pointing at the line of the problem."""
    path = tmp_path / "m.yaml"
    path.write_text("workload:\n  arrivals: {kind: poisson\nagents: [\n")
    with pytest.raises(ConfigError) as info:
        load_model(path)
    assert "is not valid YAML" in str(info.value)
    assert info.value.problems[0].line is not None


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    """A key given twice is a mistake YAML would silently resolve; tarsim refuses it."""
    path = tmp_path / "m.yaml"
    path.write_text("agents: {count: 1}\nagents: {count: 2}\n")
    with pytest.raises(ConfigError, match=r"agents.*is given twice"):
        load_model(path)


@pytest.mark.parametrize(("content", "rule"), [("", "an empty file"), ("- 1\n- 2\n", "list"),
                                               ("42\n", "int")])
def test_file_must_hold_a_mapping(tmp_path: Path, content: str, rule: str) -> None:
    """An empty file, a list or a scalar is not a model."""
    path = tmp_path / "m.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=rule):
        load_model(path)


def test_missing_file(tmp_path: Path) -> None:
    """A model path that does not exist is named in the error."""
    with pytest.raises(ConfigError, match="no such file"):
        load_model(tmp_path / "absent.yaml")


def test_empirical_column_and_values(tmp_path: Path) -> None:
    """An empirical distribution needs its column, holding non-negative numbers."""
    (tmp_path / "d.csv").write_text("x,y\n1,a\n2,b\n")
    spec = {"dist": "empirical", "file": "d.csv"}
    with pytest.raises(ConfigError, match="has no column 'z'"):
        load(tmp_path, {"router.work": {**spec, "column": "z"}})
    with pytest.raises(ConfigError, match="must hold numbers"):
        load(tmp_path, {"router.work": {**spec, "column": "y"}})
    assert load(tmp_path, {"router.work": {**spec, "column": "x"}}).router.work.column == "x"


def test_trace_classes_must_exist(tmp_path: Path) -> None:
    """A trace whose class column names a class the model lacks is refused."""
    (tmp_path / "t.csv").write_text("t,class\n0,a\n1,b\n")
    with pytest.raises(ConfigError, match=r"lacks: \['b'\]"):
        load(tmp_path, {"workload.arrivals": {"kind": "trace", "file": "t.csv",
                                              "class_column": "class"}})


@pytest.mark.parametrize("text", ["agents.count", "=3", "a.b=[unclosed"])
def test_bad_override_text(text: str) -> None:
    """--set needs PATH=VALUE with a YAML value."""
    with pytest.raises(ConfigError):
        parse_override(text)


def test_override_into_a_scalar_is_refused() -> None:
    """A path that runs through a scalar cannot be set."""
    with pytest.raises(ConfigError, match="cannot be set"):
        apply_overrides(copy.deepcopy(BASE), {"agents.count.x": 1})


def test_override_replaces_a_whole_subtree(tmp_path: Path) -> None:
    """A mapping value replaces the subtree, as --set 'workload.arrivals={...}' does."""
    _, value = parse_override("workload.arrivals={kind: closed, users: 7}")
    model = load(tmp_path, {"workload.arrivals": value})
    assert model.workload.arrivals.kind == "closed" and model.workload.arrivals.users == 7


@pytest.mark.parametrize(("text", "seconds"), [(2, 2.0), ("800ms", 0.8), ("2s", 2.0),
                                               ("30min", 1800.0), ("1h", 3600.0),
                                               ("250us", 250e-6), ("1.5e3ms", 1.5)])
def test_durations(text: Any, seconds: float) -> None:
    """Durations in every unit become seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "per_second"), [(50, 50.0), ("50/s", 50.0),
                                                  ("4000/min", 4000 / 60),
                                                  ("10000/h", 10000 / 3600)])
def test_rates(text: Any, per_second: float) -> None:
    """Rates in every unit become per-second."""
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(("text", "size"), [(1024, 1024.0), ("50KB", 50e3), ("5MB", 5e6),
                                            ("1GiB", 2.0**30)])
def test_sizes(text: Any, size: float) -> None:
    """Sizes become bytes (KB = 1000 B, KiB = 1024 B)."""
    assert parse_size(text) == pytest.approx(size)


@pytest.mark.parametrize("bad", ["2 fortnights", "fast", True, None, "nan s", float("inf")])
def test_bad_durations(bad: Any) -> None:
    """Anything else is refused with the accepted forms in the message."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_token_counts_must_be_plausible(tmp_path: Path) -> None:
    """A token distribution averaging more than 10 million tokens a call is refused
    (it would also overflow the 64-bit token counters)."""
    with pytest.raises(ConfigError, match="input_tokens must average at most"):
        load(tmp_path, {"roles.r.input_tokens": {"dist": "lognormal", "mean": 7.7e18,
                                                 "cv": 1}})
