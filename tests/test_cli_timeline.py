"""``tarsim run --timeline FILE``: the per-second time series as CSV or Parquet,
chosen by the file's suffix; any other suffix is a user error (exit 2)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import mmc_data

from tarsim.cli import main

COLUMNS = ["t", "arrivals", "completions", "errors", "queue", "busy", "agents",
           "memory_mb", "mode"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_timeline_file(write_model, tmp_path, suffix):
    """A 20 s run writes 20 one-second rows with the required columns, and the
    arrivals column adds up to the requests that arrived."""
    model = write_model(mmc_data(5.0, 10.0, 2, memory={"base": "1MB"}))
    out = tmp_path / f"timeline{suffix}"
    result = CliRunner().invoke(main, ["run", str(model), "--duration", "20s", "--warmup", "0s",
                                       "--format", "json", "--timeline", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert set(COLUMNS) <= set(frame.columns)
    assert frame["t"].tolist() == [float(t) for t in range(20)]
    import json

    assert frame["arrivals"].sum() == json.loads(result.output)["arrived"]
    assert (frame["memory_mb"] >= 1.0).all() and set(frame["mode"]) == {"optimal"}


def test_timeline_bad_suffix(write_model, tmp_path):
    """A suffix other than .csv or .parquet is refused before running, exit 2."""
    model = write_model(mmc_data(5.0, 10.0, 2))
    result = CliRunner().invoke(main, ["run", str(model), "--timeline",
                                       str(tmp_path / "out.xlsx")])
    assert result.exit_code == 2
    assert "--timeline: must end in .csv or .parquet" in result.output
