"""What the workflow machinery costs: models/tars.yaml against models/tars_workflow.yaml
(the same model with its analysis class fanned out to two pooled sub-agents), in
simulated requests per CPU second, at a load both carry without queueing (20 req/s
Poisson), so the two do the same work but for the fan-out.

CPU time (``time.process_time``) rather than wall time, and the best of several
runs, alternating the models, so that other processes on a shared machine disturb
the measure as little as they can. A plain model never reaches the workflow code:
its speed is measured by bench_mmc.py before and after.

Usage: PYTHONPATH=. python benchmarks/bench_workflow.py [--rounds N] [--smoke]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tarsim import api
from tarsim.run import simulate

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to test the script")
    args = parser.parse_args()
    duration = 20.0 if args.smoke else 500.0
    rounds = 1 if args.smoke else args.rounds
    load = {"workload.arrivals": {"kind": "poisson", "rate": 20}}
    models = {name: api.with_overrides(api.load_model(ROOT / "models" / name), load)
              for name in ("tars.yaml", "tars_workflow.yaml")}
    best = dict.fromkeys(models, float("inf"))
    counts = dict.fromkeys(models, 0)
    for _ in range(rounds):
        for name, model in models.items():
            start = time.process_time()
            records = simulate(model, duration=duration, warmup=0, seed=1)
            best[name] = min(best[name], time.process_time() - start)
            counts[name] = len(records.request_columns["id"])
    rates = {name: counts[name] / best[name] for name in models}
    for name, rate in rates.items():
        print(f"{name:20s} {counts[name]:,} requests, {rate:,.0f} per CPU second "
              f"(best of {rounds})")
    print(f"ratio workflow/plain = {rates['tars_workflow.yaml'] / rates['tars.yaml']:.2f}")


if __name__ == "__main__":
    main()
