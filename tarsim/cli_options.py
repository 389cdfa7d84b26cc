"""Options that several commands of the command line share, declared once: where
their runs go (``--workers``, ``--executor``, ``--scheduler``) and how they pick up a
results folder (``--resume``, ``--retry-failed``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def executor_options(default: str | None = "local") -> Callable[[F], F]:
    """``--workers``, ``--executor`` and ``--scheduler``: where a command's runs go, the
    same for every command that takes them. With *default* None, ``--executor`` is
    ``local`` when ``--workers`` is given and ``serial`` otherwise (see :func:`where`)."""
    options = [
        click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
                     help="Processes of the local pool [default: one per core]."),
        click.option("--executor", type=click.Choice(["local", "dask", "serial"]),
                     default=default, show_default=default is not None,
                     help=None if default else "[default: local with --workers, else serial]"),
        click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="Dask scheduler address (tcp://host:8786), with --executor dask."),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def resume_options() -> Callable[[F], F]:
    """``--resume`` and ``--retry-failed``: continue the runs a results folder holds."""
    options = [
        click.option("--resume", is_flag=True, help="Keep the runs already in --out; do the rest."),
        click.option("--retry-failed", is_flag=True,
                     help="With --resume: run the runs that failed before again."),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def where(executor: str | None, workers: int | None) -> str:
    """The executor of a command whose ``--executor`` has no default."""
    return executor or ("local" if workers else "serial")
