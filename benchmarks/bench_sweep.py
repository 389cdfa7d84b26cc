"""Sweep throughput: runs per minute on a local pool of 2 workers against 1.

A fixed experiment on the TARS model (tiers of 100 and 200 req/s, three agent
counts, 4 replications: 24 runs of 0.5-1 s each, so that fixed costs such as
starting the pool and building the tables are small beside the runs) is swept
from scratch, without writing files, for each pool size. The scaling ratio is
printed; the target is >= 1.8x on 2 free cores.

    PYTHONPATH=. python benchmarks/bench_sweep.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

EXPERIMENT = {
    "name": "bench-sweep",
    "model": str(ROOT / "models" / "tars.yaml"),
    "horizon": "120s",
    "warmup": "10s",
    "seed": 1,
    "replications": 4,
    "set": {"agents.warm": None},
    "tiers": [{"name": "a", "rate": "100/s", "grid": {"agents.count": [20, 40, 80]}},
              {"name": "b", "rate": "200/s", "grid": {"agents.count": [40, 80, 160]}}],
}


def runs_per_minute(path: Path, workers: int) -> tuple[float, int, float]:
    from tarsim import api

    experiment = api.load_experiment(path)
    started = time.perf_counter()
    result = api.sweep(experiment, executor="local", workers=workers)
    wall = time.perf_counter() - started
    return len(result.runs) / wall * 60.0, len(result.runs), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N sweeps per size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(EXPERIMENT, sort_keys=False))
        best: dict[int, float] = {}
        for workers in (1, 2):
            for _ in range(args.repeat):
                rate, runs, wall = runs_per_minute(path, workers)
                best[workers] = max(best.get(workers, 0.0), rate)
                print(f"workers={workers}: {runs} runs in {wall:.2f}s = {rate:.0f} runs/min")
    ratio = best[2] / best[1]
    print(f"cores: {os.cpu_count()}; best of {args.repeat}: 1 worker {best[1]:.0f} runs/min, "
          f"2 workers {best[2]:.0f} runs/min; scaling {ratio:.2f}x (target >= 1.8x)")


if __name__ == "__main__":
    main()
