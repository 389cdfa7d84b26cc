"""Reference: a hand-written SimPy M/M/c (process per customer + Resource), as a
SimPy user would write it. Prints JSON: customers served and mean wait after warm-up.

Usage: python mmc_simpy.py LAMBDA MU C HORIZON WARMUP SEED
"""

from __future__ import annotations

import json
import random
import sys
import time

import simpy


def main() -> None:
    lam, mu, c, horizon, warmup = (float(x) for x in sys.argv[1:6])
    seed = int(sys.argv[6])
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=int(c))
    waits: list[tuple[float, float]] = []

    def customer(env: simpy.Environment):  # type: ignore[no-untyped-def]
        arrived = env.now
        with servers.request() as req:
            yield req
            waits.append((arrived, env.now - arrived))
            yield env.timeout(rng.expovariate(mu))

    def source(env: simpy.Environment):  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(rng.expovariate(lam))
            env.process(customer(env))

    env.process(source(env))
    start = time.perf_counter()
    env.run(until=horizon)
    seconds = time.perf_counter() - start
    kept = [w for a, w in waits if a >= warmup]
    print(json.dumps({"customers": len(waits), "sim_seconds": seconds,
                      "mean_wait": sum(kept) / len(kept)}))


if __name__ == "__main__":
    main()
