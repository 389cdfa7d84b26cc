"""tarsim: a discrete-event capacity simulator for multi-agent LLM applications.

Describe the system in YAML (``models/``), simulate it with SimPy, and read
throughput, latency percentiles, errors by cause, memory and cost with
confidence intervals. The Python entry points live in :mod:`tarsim.api`; the
command line in :mod:`tarsim.cli` is a thin shell over them.
"""

__version__ = "0.1.0"
