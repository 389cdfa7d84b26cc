"""Re-verify a sweep's recommendations by long runs.

For each tier's recommended point (its highest load), run the point's model for a
long steady window (by default 300 s of warm-up, from full buckets, then 600 s
measured) with 10 replications, and compare each SLO's verdict with the sweep's:
``meets`` when the 95% upper bound is within the limit, ``fails`` when the lower
bound is above it, else ``uncertain``. Prints the agreement table.

Usage (after ``tarsim sweep experiments/tiers.yaml --out results/tiers``):

    python benchmarks/verify_recommendations.py experiments/tiers.yaml results/tiers
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd

from tarsim import api
from tarsim.sweep.stats import column


def verdict(low: float, high: float, limit: float) -> str:
    if high <= limit:
        return "meets"
    if low > limit:
        return "fails"
    return "uncertain"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment")
    parser.add_argument("results")
    parser.add_argument("--warmup", type=float, default=300.0)
    parser.add_argument("--window", type=float, default=600.0)
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None,
                        help="processes for the replications [default: one per core]")
    args = parser.parse_args()
    experiment = api.load_experiment(args.experiment)
    slo = experiment.slo.limits()
    recommendations = pd.read_csv(Path(args.results) / "recommendations.csv")
    rows = []
    started, wall = time.process_time(), time.perf_counter()
    for _, rec in recommendations.iterrows():
        if rec["verdict"] not in ("meets", "uncertain"):
            continue
        point = experiment.points[int(rec["point"])]
        summary = api.run(point.model, duration=args.warmup + args.window,
                          warmup=args.warmup, seed=experiment.spec.seed + 1000,
                          replications=args.replications, keep_records=False,
                          executor="local", workers=args.workers).summary
        for path, limit in slo.items():
            name = column(path)
            sweep_low, sweep_high = rec.get(name + "_lo", math.nan), rec.get(name + "_ub")
            if path in summary["bounds"]:
                low, high = summary["bounds"][path]
            else:
                node = summary
                for part in path.split("."):
                    node = node[part]
                half = summary["ci95"][path]
                low, high = node - half, node + half
            estimate = summary
            for part in path.split("."):
                estimate = estimate[part]
            long_verdict = verdict(low, high, limit)
            sweep_verdict = verdict(sweep_low, sweep_high, limit)
            rows.append({
                "tier": rec["tier"], "point": int(rec["point"]), "load": rec["load"],
                "slo": f"{path} <= {limit:g}",
                "sweep": f"{rec[name]:.4g} [{sweep_low:.4g}, {sweep_high:.4g}] {sweep_verdict}",
                "long run": f"{estimate:.4g} [{low:.4g}, {high:.4g}] {long_verdict}",
                "agree": ("undecided" if "uncertain" in (sweep_verdict, long_verdict)
                          else "yes" if sweep_verdict == long_verdict else "NO"),
            })
    table = pd.DataFrame(rows)
    print(table.to_string(index=False) if len(table) else "no recommended point")
    print(f"\n{args.replications} replications of {args.window:g} s after {args.warmup:g} s "
          f"per point; {time.perf_counter() - wall:.0f} s wall, "
          f"{time.process_time() - started:.0f} s of CPU in this process")


if __name__ == "__main__":
    main()
