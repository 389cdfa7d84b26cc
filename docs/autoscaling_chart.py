"""Make docs/autoscaling-spike.png and print the numbers docs/autoscaling.md quotes.

Run from the repository root: ``python docs/autoscaling_chart.py``.
"""

from __future__ import annotations

from pathlib import Path

from tarsim import api
from tarsim.report.timeseries import autoscaling_chart, save_png

ROOT = Path(__file__).resolve().parent.parent
SEED = 3


def main() -> None:
    result = api.run(ROOT / "models" / "spike.yaml", duration=600.0, warmup=0.0, seed=SEED)
    series = result.timeseries()
    records = result.records[0]
    decisions = records.scaling
    agents = result.records[0].model.agents
    assert agents.autoscale is not None
    chart = autoscaling_chart(series, decisions,
                              title="models/spike.yaml: 10 → 150 → 10 req/s, HPA on utilisation",
                              concurrency=agents.concurrency, target=agents.autoscale.target)
    save_png(chart, ROOT / "docs" / "autoscaling-spike.png")
    print("scaling decisions (t, metric, current, recommended, desired):")
    for row in decisions[decisions["desired"] != decisions["current"]].itertuples(index=False):
        print(f"  {row.t:6.1f} s  metric {row.metric:.3f}  {row.current} -> {row.desired}"
              f"  (raw recommendation {row.recommended})")
    agents = records.agents
    print("agent events after t=0:")
    for row in agents[agents["t"] > 0].itertuples(index=False):
        print(f"  {row.t:8.3f} s  agent {row.agent}  {row.event}")
    s = result.summary
    print(f"throughput {s['throughput']:.2f} req/s, p99 {s['latency']['p99']:.3f} s, "
          f"max queue {s['queue']['max']:.0f}, agent-seconds {s['agents']['agent_seconds']:.1f}, "
          f"infra ${s['cost']['infra_usd']:.4f}")
    peak = series[(series["t"] >= 60) & (series["t"] < 180)]
    print(f"150 req/s phase: mean utilisation with 3 agents "
          f"{(peak[peak['t'] >= 77]['busy'] / (peak[peak['t'] >= 77]['agents'] * 50)).mean():.3f}")


if __name__ == "__main__":
    main()
