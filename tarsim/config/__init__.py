"""Files in, validated frozen config out: the model format, units, distributions
and the errors users see."""

from tarsim.config.errors import ConfigError, Problem
from tarsim.config.loader import (
    apply_overrides,
    load_data,
    load_model,
    model_from_data,
    parse_override,
    validate,
    with_overrides,
)
from tarsim.config.model import Model

__all__ = [
    "ConfigError",
    "Model",
    "Problem",
    "apply_overrides",
    "load_data",
    "load_model",
    "model_from_data",
    "parse_override",
    "validate",
    "with_overrides",
]
