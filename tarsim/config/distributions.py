"""Distributions: how YAML names them and how they validate.

A model value such as ``{dist: lognormal, median: 600ms, p99: 2s}`` is validated
into a frozen spec (one family per unit: durations, or plain numbers such as
token counts); a bare value is a constant. The specs are data: the samplers that
draw from them at run time live with the components
(:mod:`tarsim.components.sampling`). The classes of each family are module
attributes (``DurationLognormal``, ``NumberGamma``, ...), so a model pickles.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import numpy as np
from pydantic import BeforeValidator, Discriminator, Field, Tag, create_model, model_validator

from tarsim.config.base import Frozen, Number, Seconds
from tarsim.config.limits import read_csv_rows

Z99 = 2.3263478740408408
"""The standard normal 0.99 quantile: a lognormal's p99 = median * exp(Z99 * sigma)."""

DISTRIBUTIONS = ("constant", "exponential", "uniform", "lognormal", "gamma", "empirical")
"""The ``dist`` names of the model format."""


# ---------------------------------------------------------------- spec bases
class _Constant(Frozen):
    def mean(self) -> float:
        return self.value  # type: ignore[attr-defined,no-any-return]


class _Exponential(Frozen):
    def mean(self) -> float:
        return self.mean_  # type: ignore[attr-defined,no-any-return]


class _Uniform(Frozen):
    @model_validator(mode="after")
    def _ordered(self) -> Any:
        if self.high < self.low:  # type: ignore[attr-defined]
            raise ValueError(f"high must be >= low, got low={self.low}, high={self.high}")  # type: ignore[attr-defined]
        return self

    def mean(self) -> float:
        return (self.low + self.high) / 2  # type: ignore[attr-defined,no-any-return]


class _Lognormal(Frozen):
    """Lognormal given by median and p99, or by mean and coefficient of variation."""

    @model_validator(mode="after")
    def _one_parametrisation(self) -> Any:
        by_quantiles = self.median is not None or self.p99 is not None  # type: ignore[attr-defined]
        by_moments = self.mean_ is not None or self.cv is not None  # type: ignore[attr-defined]
        if by_quantiles == by_moments:
            raise ValueError("give either median and p99, or mean and cv")
        if by_quantiles:
            if self.median is None or self.p99 is None:  # type: ignore[attr-defined]
                raise ValueError("median and p99 go together")
            if self.median <= 0:  # type: ignore[attr-defined]
                raise ValueError(f"median must be > 0, got {self.median}")  # type: ignore[attr-defined]
            if self.p99 <= self.median:  # type: ignore[attr-defined]
                raise ValueError(
                    f"p99 must be greater than the median, got median={self.median}, "  # type: ignore[attr-defined]
                    f"p99={self.p99}"  # type: ignore[attr-defined]
                )
        else:
            if self.mean_ is None or self.cv is None:  # type: ignore[attr-defined]
                raise ValueError("mean and cv go together")
            if self.mean_ <= 0 or self.cv <= 0:  # type: ignore[attr-defined]
                raise ValueError("mean and cv must be > 0")
        return self

    def mu_sigma(self) -> tuple[float, float]:
        if self.median is not None:  # type: ignore[attr-defined]
            mu = math.log(self.median)  # type: ignore[attr-defined]
            return mu, (math.log(self.p99) - mu) / Z99  # type: ignore[attr-defined]
        sigma2 = math.log1p(self.cv**2)  # type: ignore[attr-defined]
        return math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)  # type: ignore[attr-defined]

    def mean(self) -> float:
        mu, sigma = self.mu_sigma()
        return math.exp(mu + sigma**2 / 2)


class _Gamma(Frozen):
    def mean(self) -> float:
        return self.mean_  # type: ignore[attr-defined,no-any-return]


class _Empirical(Frozen):
    def mean(self) -> float:
        raise ValueError("the mean of an empirical distribution needs its file")


def _family(prefix: str, value: Any) -> Any:
    """The validated union of every distribution whose values have one unit."""
    nonneg = Annotated[value, Field(ge=0)]
    pos = Annotated[value, Field(gt=0)]
    opt = Annotated[value | None, Field(default=None)]
    make: Any = create_model  # field specs built at run time are beyond mypy's reach
    members = {
        "constant": make(
            f"{prefix}Constant", __base__=_Constant,
            dist=(Literal["constant"], "constant"), value=(nonneg, ...),
        ),
        "exponential": make(
            f"{prefix}Exponential", __base__=_Exponential,
            dist=(Literal["exponential"], ...), mean_=(pos, Field(alias="mean")),
        ),
        "uniform": make(
            f"{prefix}Uniform", __base__=_Uniform,
            dist=(Literal["uniform"], ...), low=(nonneg, ...), high=(nonneg, ...),
        ),
        "lognormal": make(
            f"{prefix}Lognormal", __base__=_Lognormal,
            dist=(Literal["lognormal"], ...), median=(opt, None), p99=(opt, None),
            mean_=(opt, Field(default=None, alias="mean")),
            cv=(Annotated[float | None, Field(default=None, gt=0)], None),
        ),
        "gamma": make(
            f"{prefix}Gamma", __base__=_Gamma,
            dist=(Literal["gamma"], ...), mean_=(pos, Field(alias="mean")),
            cv=(Annotated[float, Field(gt=0)], ...),
        ),
        "empirical": make(
            f"{prefix}Empirical", __base__=_Empirical,
            dist=(Literal["empirical"], ...), file=(str, ...), column=(str, ...),
            scale=(Annotated[float, Field(gt=0)], 1.0),
        ),
    }
    for model in members.values():
        # Module attributes, so that models holding distributions pickle (to worker
        # processes) by reference, like any other class.
        model.__module__ = __name__
        globals()[model.__name__] = model
    tagged = tuple(Annotated[model, Tag(name)] for name, model in members.items())
    known = ", ".join(members)
    return Annotated[
        Union[tagged],  # noqa: UP007
        Discriminator(
            _dist_name,
            custom_error_type="unknown_distribution",
            custom_error_message=f"dist must be one of {known}",
        ),
    ]


def _dist_name(value: Any) -> str | None:
    """Which family member validates *value*; a bare value is a constant."""
    if isinstance(value, dict):
        name = value.get("dist")
        return name if isinstance(name, str) and name in DISTRIBUTIONS else None
    if isinstance(value, Frozen):
        return getattr(value, "dist", None)
    return "constant"


def _as_constant(value: Any) -> Any:
    if isinstance(value, dict | Frozen):
        return value
    return {"dist": "constant", "value": value}


# The two families the model format uses.
AnyDist = _Constant | _Exponential | _Uniform | _Lognormal | _Gamma | _Empirical

if TYPE_CHECKING:  # mypy sees the members' common bases; pydantic sees the tagged unions
    DurationDist = AnyDist
    NumberDist = AnyDist
else:
    _DURATIONS = _family("Duration", Seconds)
    _NUMBERS = _family("Number", Number)
    # The JSON Schema shows a bare value as an alternative, as the validator accepts it.
    DurationDist = Annotated[
        _DURATIONS,
        BeforeValidator(_as_constant, json_schema_input_type=Seconds | _DURATIONS),
    ]
    """A distribution of durations (seconds); a bare duration is a constant."""
    NumberDist = Annotated[
        _NUMBERS,
        BeforeValidator(_as_constant, json_schema_input_type=float | _NUMBERS),
    ]
    """A distribution of plain numbers such as token counts; a bare number is a constant."""


# ---------------------------------------------------------------- data files
def load_empirical(spec: Any, base_dir: Path) -> np.ndarray:
    """The column of an empirical distribution's CSV file, scaled, as floats.

    Raises ``ValueError`` naming the file, the column and what is wrong.
    """
    rows = read_csv_rows(spec.file, base_dir, "file")
    if not rows or spec.column not in rows[0]:
        columns = list(rows[0]) if rows else []
        raise ValueError(f"file {spec.file!r} has no column {spec.column!r} (columns: {columns})")
    try:
        values = np.array([float(row[spec.column]) for row in rows], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"column {spec.column!r} of {spec.file!r} must hold numbers") from None
    if (values < 0).any() or not np.isfinite(values).all():
        raise ValueError(f"column {spec.column!r} of {spec.file!r} must hold finite values >= 0")
    return values * spec.scale


def is_zero(spec: Any) -> bool:
    """True for the constant 0, which components skip instead of scheduling."""
    return getattr(spec, "dist", None) == "constant" and spec.value == 0
