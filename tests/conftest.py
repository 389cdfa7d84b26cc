"""Shared fixtures: small model files written on the fly, and the models/ folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def mmc_data(lam: float, mu: float, c: int, **extra: Any) -> dict[str, Any]:
    """The M/M/c queue in the model format: Poisson(lam), one exponential(1/mu)
    step, one agent with c slots."""
    data: dict[str, Any] = {
        "name": f"mm{c}",
        "workload": {
            "arrivals": {"kind": "poisson", "rate": lam},
            "classes": [{"name": "job", "steps": ["server"]}],
        },
        "agents": {"count": 1, "concurrency": c},
        "roles": {"server": {"work": {"dist": "exponential", "mean": 1.0 / mu}}},
    }
    for key, value in extra.items():
        data[key] = value
    return data


@pytest.fixture
def write_model(tmp_path: Path):
    """Write a model dict (or YAML text) to a file and return its path."""

    def write(data: dict[str, Any] | str, name: str = "model.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write
