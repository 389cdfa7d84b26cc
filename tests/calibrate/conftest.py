"""Fixtures of the calibration tests: a small synthetic model with known parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Synthetic = Callable[..., dict[str, Any]]


def synthetic(work: float = 0.2, error: float = 0.03, concurrency: int = 4,
              base: float = 2e6, per_agent: float = 1e6, per_request: float = 5e4
              ) -> dict[str, Any]:
    return {
        "name": "synthetic",
        "workload": {"arrivals": {"kind": "closed", "users": 2},
                     "classes": [{"name": "job", "steps": ["worker"]}]},
        "agents": {"count": 1, "concurrency": concurrency},
        "roles": {"worker": {"work": {"dist": "exponential", "mean": work}, "llm": "m"}},
        "llms": {"m": {"provider": "p",
                       "first_token": {"dist": "lognormal", "median": 0.3, "p99": 1.2}}},
        "providers": {"p": {"errors": {"rate": error}}},
        "memory": {"base": base, "per_agent": per_agent, "per_request": per_request},
    }



@pytest.fixture(name="synthetic")
def synthetic_fixture() -> Synthetic:
    """The synthetic model's data, with any parameter changed by keyword."""
    return synthetic
