"""Reference: Ciw's M/M/c on the same parameters. Prints JSON: customers served and
mean wait after warm-up.

Usage: python mmc_ciw.py LAMBDA MU C HORIZON WARMUP SEED
"""

from __future__ import annotations

import json
import sys
import time

import ciw


def main() -> None:
    lam, mu, c, horizon, warmup = (float(x) for x in sys.argv[1:6])
    seed = int(sys.argv[6])
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam)],
        service_distributions=[ciw.dists.Exponential(rate=mu)],
        number_of_servers=[int(c)],
    )
    ciw.seed(seed)
    start = time.perf_counter()
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(horizon)
    records = sim.get_all_records()
    seconds = time.perf_counter() - start
    kept = [r.waiting_time for r in records if r.arrival_date >= warmup]
    print(json.dumps({"customers": len(records), "sim_seconds": seconds,
                      "mean_wait": sum(kept) / len(kept)}))


if __name__ == "__main__":
    main()
