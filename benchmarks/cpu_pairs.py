"""CPU time of the engine, old code against new, on a loaded machine.

Wall-clock benchmarks are noise when other processes share the cores; CPU time of
the simulation alone (``time.process_time()`` around ``simulate()``, best of three
in each process) is not. Runs alternate between two source trees (each a folder
holding ``tarsim/`` and ``models/``, e.g. from ``git archive main tarsim models``)
and print the ratio new/old per pair and the median, for an M/M/3 queue (lambda
2.4, mu 1, 20,000 s) and ``models/tars.yaml`` at 50 req/s for 300 s.

    nice -n 10 python benchmarks/cpu_pairs.py OLD_TREE NEW_TREE --pairs 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MM3 = {"name": "mm3",
       "workload": {"arrivals": {"kind": "poisson", "rate": 2.4},
                    "classes": [{"name": "job", "steps": ["server"]}]},
       "agents": {"count": 1, "concurrency": 3},
       "roles": {"server": {"work": {"dist": "exponential", "mean": 1.0}}}}


def measure(case: str, tree: Path, repeat: int) -> float:
    """Best CPU seconds of *repeat* simulations of *case* with the code in this process."""
    from tarsim.api import load_model
    from tarsim.config.model import Model
    from tarsim.run import simulate

    if case == "mm3":
        model, duration = Model.model_validate(MM3), 20_000.0
    else:
        model = load_model(tree / "models/tars.yaml",
                           {"workload.arrivals": {"kind": "poisson", "rate": "50/s"}})
        duration = 300.0
    times = []
    for _ in range(repeat):
        start = time.process_time()
        simulate(model, duration=duration, warmup=0.0, seed=1)
        times.append(time.process_time() - start)
    return min(times)


def in_subprocess(case: str, tree: Path, repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, __file__, "--measure", case, str(tree),
                          "--repeat", str(repeat)], env=env, capture_output=True, text=True,
                         check=True, cwd=tree).stdout
    return float(json.loads(out)["cpu"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, nargs="?")
    parser.add_argument("new", type=Path, nargs="?")
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", nargs=2, metavar=("CASE", "TREE"))
    args = parser.parse_args()
    if args.measure:
        case, tree = args.measure
        print(json.dumps({"cpu": measure(case, Path(tree), args.repeat)}))
        return
    ratios: dict[str, list[float]] = {"mm3": [], "tars": []}
    for _ in range(args.pairs):
        for case, found in ratios.items():
            old = in_subprocess(case, args.old.resolve(), args.repeat)
            new = in_subprocess(case, args.new.resolve(), args.repeat)
            found.append(new / old)
            print(f"{case:5s} old {old:.3f} s  new {new:.3f} s  new/old {new / old:.3f}",
                  flush=True)
    for case, found in ratios.items():
        print(f"{case}: median new/old CPU time {statistics.median(found):.3f} over "
              f"{len(found)} pairs (range {min(found):.3f}-{max(found):.3f})")


if __name__ == "__main__":
    main()
