"""The what-if notebooks run from top to bottom, and are stored without outputs.

Each notebook in ``notebooks/`` is executed with nbclient in a fresh kernel whose
working folder is ``notebooks/`` (their paths are relative to it), under the
python that runs the tests, so CI's fresh venv needs nothing but its own
packages. The stored notebooks must carry no outputs and no execution counts:
``notebooks/build.py`` writes them so, and results belong to the reader's run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kernel that runs this very python: the installed ``python3`` spec when it
    does, else one written to a scratch folder and put on the search path."""
    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(KERNEL)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("kernel")
    install(kernel_name="tarsim-tests", prefix=str(prefix))
    import os

    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(prefix / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")])
    return "tarsim-tests"


def test_there_are_notebooks():
    """The what-if notebooks are in the repository, so the tests below
    cannot pass by finding none."""
    names = {p.name for p in NOTEBOOKS}
    assert {"tier_planning.ipynb", "model_mix_and_cache.ipynb", "calibration.ipynb",
            "what_decides_the_answer.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path):
    """No code cell of a stored notebook has outputs or an execution count."""
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs (run notebooks/build.py)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_name: str):
    """Every cell of the notebook executes without an error, the notebook ends by
    printing its answer (a sentence built from its results), and its charts are
    saved as SVG, which shows offline (no script loaded from a CDN)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel_name, timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    printed = [out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
               for out in cell.outputs if out.get("output_type") == "stream"
               and out.get("name") == "stdout"]
    assert printed, f"{path.name} printed no answer"
    rich = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if out.get("output_type") in ("display_data", "execute_result")]
    charts = [out for out in rich if any("vega" in k or "svg" in k for k in out.get("data", {}))]
    assert all("image/svg+xml" in out["data"] for out in charts), path.name
    assert not any("cdn.jsdelivr" in str(out.get("data", {})) for out in rich), path.name
