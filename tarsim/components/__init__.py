"""SimPy parts of the simulated system: workload, router, agent pool, providers,
roles, and the recorder they report to. :class:`tarsim.components.system.System`
wires them together for one replication."""
