"""A sweep validates each point's model once, when it builds the point: runs take
the validated model as it is (it pickles), whatever their number or executor."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import mmc_data

from tarsim import api
from tarsim.config import Model


def experiment(tmp_path: Path, replications: int) -> Path:
    (tmp_path / "mmc.yaml").write_text(yaml.safe_dump(mmc_data(2.0, 1.0, 3)))
    exp = {"name": f"v{replications}", "model": "mmc.yaml", "horizon": "40s", "warmup": "5s",
           "seed": 3, "replications": replications, "slo": {"p99": "8s"},
           "tiers": [{"name": "t", "rate": ["1/s", "2/s"]}],
           "grid": {"agents.concurrency": [4, 5]}}
    path = tmp_path / f"exp{replications}.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def validations(monkeypatch: pytest.MonkeyPatch, path: Path, executor: str) -> tuple[int, int]:
    """Model validations during one sweep of *path*, and the runs it made."""
    count = 0
    original = Model.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Model], *args: object, **kwargs: object) -> Model:
        nonlocal count
        if cls is Model:
            count += 1
        return original(cls, *args, **kwargs)  # type: ignore[no-any-return]

    with monkeypatch.context() as patch:
        patch.setattr(Model, "model_validate", classmethod(counting))
        result = api.sweep(path, executor=executor, workers=1)
    return count, len(result.runs)


def test_runs_do_not_validate_their_model(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    """Three replications per point cost no more validations than one: the runs
    themselves validate nothing, and the count stays within what building and screening
    the points needs: the loaded model, the experiment's checks of its axes (2), each
    of the 4 points, and for screening each point's zero-load model plus the one run
    they share - 12 at most, however many runs."""
    one, runs_one = validations(monkeypatch, experiment(tmp_path, 1), "serial")
    three, runs_three = validations(monkeypatch, experiment(tmp_path, 3), "serial")
    assert (runs_one, runs_three) == (4, 12)
    assert three == one
    assert one <= 1 + 2 + 4 + 4 + 1
