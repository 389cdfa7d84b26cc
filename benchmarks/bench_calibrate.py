"""Calibration on a local pool of 2 workers against serial: wall and CPU time.

The README's real load test (tests/data/agent: the model fitted to the Locust runs at 2,
8 and 16 users, its default fit set of 6 parameters), with a small budget (4 least-squares
evaluations per start, 30 s horizons, 2 replications, no hold-out): about 700 runs of
~20 ms. Serial and pool runs alternate, each in a fresh process so that the pool's
workers are counted in its CPU time; the fitted values must be identical.

    PYTHONPATH=. python benchmarks/bench_calibrate.py [--pairs N] [--duration S]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "tests" / "data" / "agent"


def calibrate_once(executor: str, workers: int | None, duration: float) -> dict[str, object]:
    from tarsim import api

    model = api.load_model(AGENT / "model.yaml")
    baseline = api.read_baseline([AGENT / f"u{n}_stats.csv" for n in (2, 8, 16)])
    own0, kids0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = api.calibrate(model, baseline, leave_one_out=False, duration=duration,
                           warmup=duration / 10, max_iterations=4, executor=executor,
                           workers=workers)
    wall = time.perf_counter() - started
    return {"wall": wall, "parent_cpu": _cpu(resource.RUSAGE_SELF) - own0,
            # the pool's workers, joined when the calibration closes its runner
            "worker_cpu": _cpu(resource.RUSAGE_CHILDREN) - kids0,
            "simulations": result.result.simulations, "fitted": result.result.fitted()}


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="serial/pool pairs, alternated")
    parser.add_argument("--duration", type=float, default=30.0, help="horizon of each run (s)")
    parser.add_argument("--one", nargs=2, metavar=("EXECUTOR", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        executor, workers = args.one
        print(json.dumps(calibrate_once(executor, int(workers) or None, args.duration)))
        return
    seen: dict[str, list[dict[str, object]]] = {"serial": [], "local": []}
    for _ in range(args.pairs):
        for executor, workers in (("serial", 0), ("local", 2)):
            out = subprocess.run([sys.executable, __file__, "--duration", str(args.duration),
                                  "--one", executor, str(workers)], check=True,
                                 capture_output=True, text=True).stdout
            run = json.loads(out)
            seen[executor].append(run)
            print(f"{executor:>6}: wall {run['wall']:6.1f} s, CPU {run['parent_cpu']:5.1f} s "
                  f"in the caller + {run['worker_cpu']:5.1f} s in workers, "
                  f"{run['simulations']} simulations", flush=True)
    fitted = {json.dumps(run["fitted"], sort_keys=True) for runs in seen.values() for run in runs}
    print(f"fitted values identical across all {2 * args.pairs} runs: {len(fitted) == 1}")
    for executor, runs in seen.items():
        walls = sorted(float(r["wall"]) for r in runs)  # type: ignore[arg-type]
        cpus = sorted(float(r["parent_cpu"]) + float(r["worker_cpu"])  # type: ignore[arg-type]
                      for r in runs)
        print(f"{executor:>6}: wall best {walls[0]:.1f} s, median {walls[len(walls) // 2]:.1f} s;"
              f" CPU best {cpus[0]:.1f} s, median {cpus[len(cpus) // 2]:.1f} s")


if __name__ == "__main__":
    main()
