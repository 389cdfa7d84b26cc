"""Where a sweep's runs execute: :mod:`tarsim.executors`, one layer down so that
every command (run, scenarios, calibrate, capacity, sweep) shares it. Kept under
this name for code that imported it from here."""

from tarsim.executors import (
    DASK,
    EXECUTORS,
    LOCAL,
    SERIAL,
    Executor,
    Outcome,
    Runner,
    RunTask,
    SerialExecutor,
    execute,
    make_executor,
    record_run,
    summary_run,
)

__all__ = ["DASK", "EXECUTORS", "LOCAL", "SERIAL", "Executor", "Outcome", "RunTask", "Runner",
           "SerialExecutor", "execute", "make_executor", "record_run", "summary_run"]
