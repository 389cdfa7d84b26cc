"""Dask and Jupyter are install extras: a base install runs simulations, and the
test extra pulls in everything the tests need."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tarsim.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("dask", "distributed", "nbclient", "nbformat", "ipykernel", "ipywidgets")


def test_test_extra_pulls_dask_and_notebooks() -> None:
    """`pip install -e '.[test]'` installs the dask and notebooks extras, and the
    base dependencies name neither."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    assert not any(name in base for name in EXTRAS)
    assert "tarsim[dask,notebooks]" in project["optional-dependencies"]["test"]
    assert "dask[distributed]" in " ".join(project["optional-dependencies"]["dask"])
    assert {"nbclient", "nbformat", "ipykernel", "ipywidgets"} <= {
        d.split(">")[0] for d in project["optional-dependencies"]["notebooks"]}


def test_tarsim_run_works_without_the_extras(tmp_path: Path) -> None:
    """With the extras' packages unimportable, `tarsim run` still simulates a model."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        f"for name in {EXTRAS!r}:\n"
        "    sys.modules[name] = None  # import raises ImportError\n")
    code = ("import sitecustomize, sys; from tarsim.cli import main; "
            "sys.argv = ['tarsim', 'run', 'models/tars.yaml', '--duration', '10s', "
            "'--warmup', '0s', '--format', 'json']; main()")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": f"{tmp_path}:{ROOT}"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"arrived"' in done.stdout


def test_dask_executor_without_dask_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for the Dask executor without the extra names the option and the fix."""
    from tarsim.executors import DASK, make_executor

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"tarsim\[dask\]"):
        make_executor(DASK, scheduler="tcp://localhost:8786")
