"""Fuzzing the CLI with hostile files and ``--set`` values: whatever the text,
``tarsim check`` and ``tarsim run`` end with exit status 0 or 2 and never a
traceback. A fixed number of examples keeps the test fast and repeatable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from conftest import MODELS, key_paths
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tarsim.cli import main
from tarsim.config.loader import format_path

TARS_TEXT = (MODELS / "tars.yaml").read_text()
TARS = yaml.safe_load(TARS_TEXT)


PATHS = [format_path(path) for path in key_paths(TARS)]

DEEP = "[" * 3000 + "]" * 3000
"""Nesting that overflowed the parser's recursion (a RecursionError traceback)."""
SNIPPETS = st.sampled_from([
    DEEP, "&a [*a]", "&x {k: *x}", "[" * 80 + "]" * 80, "{a: " * 70 + "1" + "}" * 70,
    ".inf", "-.inf", ".nan", "true", "false", "yes", "~", "1e400", "-1", "0", "1e9",
    "1000000000", "'5/fortnight'", "'12 parsecs'", "[1, 2]", "{}", "[]", "!!python/none ''",
    "!!binary aGVsbG8=", "*undefined", "&a 1", "'800ms'", "'-3s'", "{dist: empirical, "
    "file: /dev/zero, column: x}", "{dist: lognormal, mean: .inf, cv: 1}", "\"\\x00\"",
    "{kind: closed, users: 1000000000}", "{kind: poisson, rate: 1e12}",
])
VALUE = st.one_of(SNIPPETS, st.text(max_size=30))


def _run(*args: str) -> None:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback for {args!r}") from result.exception
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.integers(0, TARS_TEXT.count("\n")), VALUE),
                      min_size=1, max_size=3))
@example(lines=[(40, DEEP)])
def test_fuzzed_model_files_are_checked_without_a_traceback(tmp_path: Path,
                                                             lines: list[Any]) -> None:
    """A copy of models/tars.yaml with random lines replaced by hostile YAML (alias
    loops, deep nesting, infinities, devices, huge sizes, junk text) is either ok or
    refused with exit 2."""
    text = TARS_TEXT.splitlines()
    for index, value in lines:
        line = text[min(index, len(text) - 1)]
        key, sep, _ = line.partition(":")
        text[min(index, len(text) - 1)] = f"{key}{sep} {value}" if sep else value
    path = tmp_path / "fuzzed.yaml"
    path.write_text("\n".join(text) + "\n")
    _run("check", str(path))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(path=st.one_of(st.sampled_from(PATHS), st.text(max_size=20)), value=VALUE)
@example(path="workload.classes[0].weight", value=".inf")  # "Probabilities contain NaN"
def test_fuzzed_set_values_run_or_are_refused(path: str, value: str) -> None:
    """``tarsim run models/tars.yaml --set PATH=VALUE`` (a short run) exits 0 or 2,
    whatever the path and the value."""
    _run("run", str(MODELS / "tars.yaml"), "--set", f"{path}={value}", "--duration", "2s",
         "--format", "json")
