"""The one error type users see for bad input, and the problems it lists.

A :class:`ConfigError` carries every problem found in a file at once, each with
its YAML path, its line where known, the rule that was broken and the value that
broke it, so a user fixes a file in one pass rather than one error per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, which rule, what value."""

    path: str
    rule: str
    value: Any = None
    line: int | None = None
    has_value: bool = True
    hint: str = ""
    """Appended after the value, e.g. "; did you mean 'count'?"."""

    def __str__(self) -> str:
        where = self.path or "(top level)"
        if self.line is not None:
            where = f"{where} (line {self.line})"
        if not self.has_value:
            return f"{where}: {self.rule}{self.hint}"
        return f"{where}: {self.rule}, got {_show(self.value)}{self.hint}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ConfigError(ValueError):
    """Bad user input: a file, a key, a value or a unit tarsim can't accept."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.describe())

    def describe(self) -> str:
        head = f"{self.source}: " if self.source else ""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{head}{count} {noun}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def single(path: str, rule: str, value: Any = None, *, has_value: bool = True) -> ConfigError:
    """A ConfigError with one problem, for errors found outside a model file."""
    return ConfigError([Problem(path, rule, value, has_value=has_value)])
