"""Line numbers in errors about ``--set`` values: a value the command line put in
has no line in the file, so no line is cited for it; the file's own mistakes keep
theirs."""

from __future__ import annotations

import pytest
import yaml
from conftest import mmc_data

from tarsim.config import ConfigError
from tarsim.config.loader import load_model


def _model_file(tmp_path, **extra):
    data = mmc_data(1.0, 1.0, 2, **extra)
    path = tmp_path / "m.yaml"
    path.write_text("# a comment\n# another\n" + yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_bad_value_from_set_cites_no_line(tmp_path):
    """`--set agents.count=-1` breaks a rule and `--set workload.nonsense=1` adds an
    unknown key: both values only the command line holds, so neither problem has a
    line (they used to cite the line of the nearest key left in the file - for a
    top-level path, the file's first key, `name:`)."""
    path = _model_file(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_model(path, {"agents.count": -1})
    (problem,) = info.value.problems
    assert problem.path == "agents.count"
    assert problem.line is None
    with pytest.raises(ConfigError) as info:
        load_model(path, {"workload.nonsense": 1})
    (problem,) = info.value.problems
    assert problem.path == "workload.nonsense" and problem.line is None


def test_the_files_own_mistake_keeps_its_line_next_to_a_set(tmp_path):
    """A bad value written in the file (`rate: -1.0`) is still cited at its own line
    when an unrelated path is overridden."""
    path = _model_file(tmp_path)
    text = path.read_text().replace("rate: 1.0", "rate: -1.0")
    path.write_text(text)
    lineno = text.splitlines().index("    rate: -1.0") + 1
    with pytest.raises(ConfigError) as info:
        load_model(path, {"agents.count": 3})
    (problem,) = info.value.problems
    assert problem.path == "workload.arrivals.rate"
    assert problem.line == lineno
