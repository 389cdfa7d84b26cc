"""Speed of tarsim against a hand-written SimPy M/M/c and against Ciw, and of the full
TARS model, measured in one run as ratios (machines here are shared and noisy, so only
ratios measured side by side mean anything).

Every contender runs as a whole process, start-up included, as a user runs it:
`tarsim run` on an M/M/c model file, `python mmc_simpy.py`, `python mmc_ciw.py`, on
the same parameters (M/M/3, lambda 2.4, mu 1, rho 0.8, horizon 50,000: ~120k customers).
Rounds are interleaved, so slow spells of the machine hit every contender alike;
the median of the rounds is reported.

Targets (issue 2): tarsim >= 1.5x Ciw and >= 0.6x hand-written SimPy in customers per
wall second; models/tars.yaml at 50 req/s >= 5,000 simulated requests per wall second.

Usage: python benchmarks/bench_mmc.py [--rounds N] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LAM, MU, C = 2.4, 1.0, 3


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    top = a**c / math.factorial(c) / (1 - a / c)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def timed(cmd: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONHASHSEED": "0"}).stdout
    return time.perf_counter() - start, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to test the script")
    args = parser.parse_args()
    horizon = 500.0 if args.smoke else 50_000.0
    warmup = horizon / 10
    tars_horizon = 20.0 if args.smoke else 600.0
    rounds = 1 if args.smoke else args.rounds
    py = sys.executable
    tarsim = [py, "-m", "tarsim"]

    model = {
        "name": "mm3",
        "workload": {"arrivals": {"kind": "poisson", "rate": LAM},
                     "classes": [{"name": "job", "steps": ["server"]}]},
        "agents": {"count": 1, "concurrency": C},
        "roles": {"server": {"work": {"dist": "exponential", "mean": 1 / MU}}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "mm3.json"  # JSON is YAML
        model_path.write_text(json.dumps(model))
        contenders = {
            "tarsim": [*tarsim, "run", str(model_path), "--duration", str(horizon),
                       "--warmup", str(warmup), "--format", "json"],
            "simpy": [py, str(HERE / "mmc_simpy.py"), str(LAM), str(MU), str(C), str(horizon),
                      str(warmup), "1"],
            "ciw": [py, str(HERE / "mmc_ciw.py"), str(LAM), str(MU), str(C), str(horizon),
                    str(warmup), "1"],
        }
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        waits: dict[str, float] = {}
        for _ in range(rounds):
            for name, cmd in contenders.items():
                seconds, out = timed(cmd)
                customers = out.get("customers", out.get("arrived"))
                rates[name].append(customers / seconds)
                waits[name] = out["wait"]["mean"] if name == "tarsim" else out["mean_wait"]

        tars_cmd = [*tarsim, "run", "models/tars.yaml",
                    "--set", "workload.arrivals={kind: poisson, rate: 50/s}",
                    "--duration", str(tars_horizon), "--warmup", "0s", "--format", "json"]
        tars_rates = []
        for _ in range(rounds):
            seconds, out = timed(tars_cmd)
            tars_rates.append((out["arrived"]) / seconds)

    med = {name: statistics.median(r) for name, r in rates.items()}
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}")
    print(f"M/M/{C} lambda={LAM} mu={MU} rho={LAM / (C * MU):.2f} horizon={horizon:g} "
          f"(whole processes, start-up included; median of {rounds} interleaved rounds)")
    print(f"  Erlang C mean wait {erlang_c_wait(LAM, MU, C):.4f}; one run each gave "
          + ", ".join(f"{k} {v:.4f}" for k, v in waits.items()))
    for name in contenders:
        print(f"  {name:7s} {med[name]:10,.0f} customers/s  (rounds: "
              + ", ".join(f"{r:,.0f}" for r in rates[name]) + ")")
    print(f"  ratio tarsim/ciw   = {med['tarsim'] / med['ciw']:.2f}  (target >= 1.5)")
    print(f"  ratio tarsim/simpy = {med['tarsim'] / med['simpy']:.2f}  (target >= 0.6)")
    print(f"models/tars.yaml at 50 req/s, horizon {tars_horizon:g}s: "
          f"{statistics.median(tars_rates):,.0f} simulated requests per wall second "
          f"(target >= 5,000; whole process, one core)")


if __name__ == "__main__":
    main()
