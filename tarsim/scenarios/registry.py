"""The registry of analyses: a scenario file names its analysis (``kind:
degradation_point``) and the code is looked up here, never evaluated from the file.

Each analysis is a frozen pydantic model of its parameters with two methods:
:meth:`Analysis.variants` says which models to simulate (overrides on top of the
scenario's model, one entry per variant), and :meth:`Analysis.analyse` turns their
runs into a :class:`Finding`. The registry refuses a name given twice.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tarsim.config.base import Frozen
from tarsim.config.model import Model
from tarsim.run import RunRecords


@dataclass(frozen=True)
class Runs:
    """One variant's replications: their records, summaries and aggregate (the
    ``tarsim run`` JSON with ``ci95`` when there is more than one)."""

    records: list[RunRecords]
    summaries: list[dict[str, Any]]
    summary: dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """What an analysis found: one line for the table, and the numbers behind it."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


class Analysis(Frozen):
    """The parameters of one analysis; subclasses add theirs and a ``kind`` literal."""

    kind: str

    def variants(self) -> dict[str, dict[str, Any]]:
        """Overrides per variant, on top of the scenario's model (default: the model
        as the scenario gives it, once)."""
        return {"": {}}

    def requires(self, model: Model) -> list[str]:
        """What *model* lacks for this analysis to mean anything (empty: nothing)."""
        return []

    @abstractmethod
    def analyse(self, runs: Mapping[str, Runs]) -> Finding:
        """The finding, from the runs of each variant (pydantic's model metaclass is an
        ABCMeta, so a subclass without this cannot be made)."""


A = TypeVar("A", bound=type[Analysis])


class Registry:
    """Analyses by name."""

    def __init__(self) -> None:
        self._by_name: dict[str, type[Analysis]] = {}

    def register(self, name: str) -> Callable[[A], A]:
        def add(cls: A) -> A:
            if name in self._by_name:
                raise ValueError(f"analysis {name!r} is registered twice")
            self._by_name[name] = cls
            return cls

        return add

    def names(self) -> list[str]:
        return list(self._by_name)

    def items(self) -> list[tuple[str, type[Analysis]]]:
        return list(self._by_name.items())

    def __getitem__(self, name: str) -> type[Analysis]:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no analysis {name!r}; known: {', '.join(self._by_name)}") from None


ANALYSES = Registry()
