"""Sweeps: an experiment's points x replications on a serial, local-pool or Dask
executor, with common random numbers, a crash-safe results store, per-point
statistics with 95% CIs, recommendations per tier and capacity search.

Modules: ``experiment`` (the file format), ``loader`` (files in, validated
experiments out), ``points`` (expansion and keys), ``budget`` (the work a run
asks for, estimated before it starts), ``executors`` (one way to run
replications, on ``concurrent.futures``), ``store`` (resumable results in
SQLite, failed runs included), ``stats``, ``recommend``, ``capacity``, ``runner``.
"""
