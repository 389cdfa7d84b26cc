"""The base every config model shares, and the unit-carrying field types.

Config is data: frozen pydantic models that forbid unknown keys. Units are
parsed here, once, by ``BeforeValidator``s, so every number inside tarsim is in
seconds, per-second or bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from tarsim.config.units import parse_count, parse_duration, parse_rate, parse_size


class Frozen(BaseModel):
    """An immutable config node that rejects keys it does not know, infinite or
    NaN numbers, and booleans where a number belongs (``count: true`` is not 1)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, validate_default=True,
        allow_inf_nan=False,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name and not _takes_bool(cls, info.field_name):
            raise ValueError("must be a number, not true or false")
        return value


@cache
def _takes_bool(cls: type[BaseModel], name: str) -> bool:
    field = cls.model_fields.get(name)
    return field is None or "bool" in repr(field.annotation) or "Any" in repr(field.annotation)


def _unit_schema(description: str, pattern: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": pattern}],
            "description": description,
        }
    )


_DUR_PATTERN = r"^\s*[0-9.eE+-]+\s*(us|ms|s|sec|m|min|h|hour|d|day)?\s*$"
_RATE_PATTERN = r"^\s*[0-9.eE+-]+\s*(/\s*(s|sec|second|m|min|minute|h|hour|d|day))?\s*$"
_SIZE_PATTERN = r"^\s*[0-9.eE+-]+\s*([kKmMgG]i?[bB]|[bB])?\s*$"

Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    _unit_schema("a duration: seconds, or a string such as '800ms', '2s', '30min'", _DUR_PATTERN),
]
PerSecond = Annotated[
    float,
    BeforeValidator(parse_rate),
    _unit_schema("a rate: per second, or a string such as '50/s', '4000/min'", _RATE_PATTERN),
]
Bytes = Annotated[
    float,
    BeforeValidator(parse_size),
    _unit_schema("a size: bytes, or a string such as '50KB', '5MB'", _SIZE_PATTERN),
]
Number = Annotated[float, BeforeValidator(parse_count)]

NonNegSeconds = Annotated[Seconds, Field(ge=0)]
PosSeconds = Annotated[Seconds, Field(gt=0)]
PosRate = Annotated[PerSecond, Field(gt=0)]
NonNegRate = Annotated[PerSecond, Field(ge=0)]
NonNegBytes = Annotated[Bytes, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, le=1)]


def repeated(names: Sequence[str]) -> list[str]:
    """The names that occur more than once in *names*, sorted (for "must be unique")."""
    return sorted(name for name, count in Counter(names).items() if count > 1)
