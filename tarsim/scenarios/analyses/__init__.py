"""The analyses a scenario can ask for, each answering what its scenario's purpose
asks: a baseline, a load point, agent scaling, the degradation point of a ramp, a
memory leak's slope, a latency curve, error and queue thresholds, rate-limit
behaviour, degradation modes, spawn latency, the cache's speed-up and long-run
stability.

Each is registered by name in :data:`tarsim.scenarios.registry.ANALYSES`. An
analysis reads only records and summaries (it never simulates); which models are
simulated is its :meth:`~tarsim.scenarios.registry.Analysis.variants`, and what a
model must have for the analysis to mean anything is its ``requires``.

The analyses are grouped by what they look at: one load (:mod:`.load`), a run
over time (:mod:`.over_time`), a swept value (:mod:`.sweeps`) and one feature of
the model (:mod:`.features`); :mod:`.common` holds what they share. Importing
the package registers them all, in this order.
"""

# registration order = the order of the kinds in the scenario format
from tarsim.scenarios.analyses import load, over_time, sweeps, features  # noqa: F401, I001
