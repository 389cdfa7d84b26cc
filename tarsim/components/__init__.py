"""SimPy parts of the simulated system: the workload, routing, the agent pool,
providers with their rate limits, retries, circuit breakers and caches, the
memory tracker, the degradation controller, the autoscaler, and the recorder they
all report to. :class:`tarsim.components.system.System` wires them together for
one replication; their words (outcomes, statuses, events, modes) are in
:mod:`tarsim.vocabulary`."""
