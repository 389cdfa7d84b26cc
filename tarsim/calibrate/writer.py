"""Writing the calibrated model: the original YAML with each fitted value replaced in
place and its provenance noted in a comment on its line, plus a header saying which
baseline, settings and fit produced it.

Values are written as plain numbers in the model's base units (seconds, bytes,
per second). The patched text is loaded and validated again, and every fitted
value checked; if in-place patching cannot be done faithfully (a value written in a
form the patcher does not recognise), the whole fitted model is written instead,
with the same header (the original comments are then lost, and the header says so).
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from tarsim.calibrate.calibration import Calibration
from tarsim.config.errors import ConfigError
from tarsim.config.loader import load_data, model_from_data, read_text, split_path
from tarsim.config.outputs import atomic_write_text, check_output_file


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def header(cal: Calibration, baseline_name: str) -> list[str]:
    r, s = cal.result, cal.settings
    lines = [
        f"# Calibrated by `tarsim calibrate` against {baseline_name} ({len(cal.baseline.rows)} "
        f"rows): {r.simulations} simulations of {s.duration_s:g} s (warm-up {s.warmup_s:g} s),",
        f"# {s.replications} replications, seed {s.seed}; sum of squared errors in tolerance "
        f"units {r.cost:.4g} ({r.dof} degrees of freedom).",
        "# Fitted values in base units (seconds, bytes, per second), 95% CI from the fit:",
    ]
    ci = r.fitted_ci95()
    for leaf, value in r.fitted().items():
        low, high = ci.get(leaf, (math.nan, math.nan))
        lines.append(f"#   {leaf} = {_number(value)}  (95% CI {low:.4g} to {high:.4g})")
    return lines


def _node(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]  # a list's item (workload.classes.0.weight)
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def _patch(text: str, source: Path, fitted: dict[str, float]) -> str | None:
    data, line_of = load_data(source)
    lines = text.splitlines()
    for leaf, value in fitted.items():
        path = split_path(leaf)
        key, where = path[-1], path
        if _node(data, path) is None and path[-1] == "value" and \
                not isinstance(_node(data, path[:-1]), dict | type(None)):
            key, where = path[-2], path[:-1]  # a constant written as a bare value
        if where not in line_of or _node(data, where) is None:
            return None
        index = line_of[where] - 1
        pattern = re.compile(rf"(\b{re.escape(str(key))}\s*:\s*)([^,}}\s#]+)")
        line = lines[index]
        match = pattern.search(line)
        if match is None:
            return None
        old = match.group(2)
        line = line[:match.start(2)] + _number(value) + line[match.end(2):]
        note = f"calibrated {key} (was {old})"
        line = f"{line}; {note}" if "#" in line else f"{line}  # {note}"
        lines[index] = line
    return "\n".join(lines) + "\n"


def _faithful(text: str, source: Path, fitted: dict[str, float]) -> bool:
    try:
        data = yaml.safe_load(text)
        model = model_from_data(data, base_dir=source.resolve().parent)
    except (ConfigError, yaml.YAMLError):
        return False
    dump = model.model_dump(by_alias=True, exclude_none=True)
    for leaf, value in fitted.items():
        got = _node(dump, split_path(leaf))
        if not isinstance(got, int | float) or not math.isclose(got, value, rel_tol=1e-5,
                                                                 abs_tol=1e-12):
            return False
    return True


def calibrated_yaml(cal: Calibration, source: str | Path, baseline_name: str) -> str:
    """The text of the calibrated model, from the original file at *source*."""
    return _calibrated(cal, Path(source), baseline_name)[0]


def _calibrated(cal: Calibration, source: Path, baseline_name: str) -> tuple[str, bool]:
    """(text, patched in place: the original's comments kept)."""
    fitted = cal.result.fitted()
    original = read_text(source)
    head = header(cal, baseline_name)
    patched = _patch(original, source, fitted)
    if patched is not None and _faithful(patched, source, fitted):
        return "\n".join(head) + "\n#\n" + patched, True
    dump = cal.result.model.model_dump(by_alias=True, exclude_none=True, mode="json")
    head.append("# (written whole from the fitted model: the original's comments are lost)")
    return "\n".join(head) + "\n" + yaml.safe_dump(dump, sort_keys=False), False


def write_calibrated(cal: Calibration, source: str | Path, baseline_name: str,
                     out: str | Path) -> list[str]:
    """Write the calibrated model to *out* (atomically); what the user must be told:
    the backup kept of a file replaced (``x.yaml.bak``, the input model included),
    and the comments lost when the model could not be patched in place."""
    source, target = Path(source), check_output_file(out, "--write")
    text, in_place = _calibrated(cal, source, baseline_name)
    notes = []
    if target.exists():
        backup = _free_name(target.with_name(target.name + ".bak"))
        shutil.copy2(target, backup)
        what = "the input model" if target.resolve() == source.resolve() else str(target)
        notes.append(f"{what} was replaced; the previous version is kept in {backup}")
    if not in_place:
        comments = sum(1 for line in read_text(source).splitlines()
                       if line.lstrip().startswith("#") or " #" in line)
        notes.append(f"the model could not be patched in place, so it was written whole: "
                     f"the {comments} comment line(s) of {source} are not in {target}")
    atomic_write_text(target, text)
    return notes


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate
