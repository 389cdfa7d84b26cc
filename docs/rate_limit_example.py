"""The README's "API rate limits" table: models/tars.yaml at rising Poisson load with
40 agents, 3 replications of 600 s after 120 s of warm-up, seed 1.

Usage: python docs/rate_limit_example.py
"""

from __future__ import annotations

from pathlib import Path

from tarsim import api

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    model = api.load_model(ROOT / "models" / "tars.yaml")
    code = [c.name for c in model.workload.classes].index("code")
    print("| offered (req/s) | throughput (req/s) | code class (req/s) | 429s | retries "
          "| `rate_limited` | error rate |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for rate in (20, 40, 60, 80, 100, 120):
        m = api.with_overrides(model, {"workload.arrivals": {"kind": "poisson",
                                                             "rate": f"{rate}/s"},
                                       "agents.count": 40})
        result = api.run(m, duration=600, warmup=120, seed=1, replications=3)
        s = result.summary
        code_rates = []
        for rec in result.records:
            req, a, b = rec.requests, rec.warmup_s, rec.duration_s
            ok = req[(req["outcome"] == "ok") & (req["end"] >= a) & (req["end"] < b)
                     & (req["cls"] == code)]
            code_rates.append(len(ok) / (b - a))
        print(f"| {rate} | {s['throughput']:.2f} ± {s['ci95']['throughput']:.2f} "
              f"| {sum(code_rates) / len(code_rates):.2f} | {s['api']['rate_limited']:,.0f} "
              f"| {s['api']['retries']:,.0f} | {s['errors']['rate_limited']:,.0f} "
              f"| {s['error_rate']:.1%} |")


if __name__ == "__main__":
    main()
