"""What every command does with its input: durations with units (``DURATION``), and
bad input (a file, a key, a value, a unit) as a ``ConfigError``, printed as a list of
problems with exit status 2 and no traceback (``user_errors``, ``problem``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from tarsim.config.errors import ConfigError, Problem
from tarsim.config.units import parse_duration

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn a ConfigError into its message on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc.describe()}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


class DurationType(click.ParamType):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(f"{exc}, got {value!r}", param, ctx)
        if seconds < 0:
            self.fail(f"must be >= 0, got {value!r}", param, ctx)
        return seconds


DURATION = DurationType()


def problem(path: str, rule: str, value: Any) -> ConfigError:
    return ConfigError([Problem(path, rule, value)])
