"""Where runs execute: in this process, on a local process pool, or on a Dask
distributed cluster — with the same results on each.

A run is a :class:`RunTask` (a model, the horizon, the warm-up, the seed and the
replication); its result is the flat summary of that replication. Runs take
their random numbers from streams keyed by (seed, replication, source), so the
executor, the worker and the order of completion cannot change a result.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tarsim import metrics
from tarsim.config import ConfigError, Model, Problem, model_from_data
from tarsim.intervals import SKETCH
from tarsim.run import simulate

SERIAL, LOCAL, DASK = "serial", "local", "dask"
SAMPLES = SKETCH + "."
"""A run's latency sketch (lists) travels with its metrics: the pooled quantiles need it."""
EXECUTORS = (SERIAL, LOCAL, DASK)


@dataclass(frozen=True)
class RunTask:
    """One replication of one point. The model travels as plain data (what its
    YAML would say) and is validated again in the worker: plain data pickles to
    any process or machine, whatever classes the config layer builds."""

    key: str
    replication: int
    model_data: dict[str, Any]
    base_dir: str
    duration: float
    warmup: float
    seed: int

    @classmethod
    def of(cls, key: str, replication: int, model: Model, duration: float, warmup: float,
           seed: int) -> RunTask:
        return cls(key, replication, model.model_dump(by_alias=True, exclude_none=True),
                   str(model.base_dir), duration, warmup, seed)

    def model(self) -> Model:
        return model_from_data(self.model_data, base_dir=Path(self.base_dir))


def execute(task: RunTask) -> dict[str, Any]:
    """Simulate one replication; its summary with flat metric paths
    (``latency.p99``), identity fields and logs (such as ``mode_changes``) dropped."""
    records = simulate(task.model(), duration=task.duration, warmup=task.warmup,
                       seed=task.seed, replication=task.replication)
    flat = metrics.flatten(metrics.summarize(records))
    return {key: value for key, value in flat.items()
            if key not in metrics.IDENTITY_KEYS
            and (not isinstance(value, list) or key.startswith(SAMPLES))}


Done = tuple[RunTask, dict[str, Any]]


class Executor(Protocol):
    """Runs tasks and hands back each result as it finishes."""

    workers: int

    def submit(self, task: RunTask) -> None: ...

    def next_done(self) -> Done:
        """Block until a submitted task finishes; its task and result."""
        ...

    def pending(self) -> int: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs each task in this process, in submission order."""

    workers = 1

    def __init__(self, run: Callable[[RunTask], dict[str, Any]] = execute) -> None:
        self._run = run
        self._queue: deque[RunTask] = deque()

    def submit(self, task: RunTask) -> None:
        self._queue.append(task)

    def next_done(self) -> Done:
        task = self._queue.popleft()
        return task, self._run(task)

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._queue.clear()


class LocalExecutor:
    """A pool of worker processes on this machine."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool = cf.ProcessPoolExecutor(max_workers=self.workers)
        self._futures: dict[cf.Future[dict[str, Any]], RunTask] = {}

    def submit(self, task: RunTask) -> None:
        self._futures[self._pool.submit(execute, task)] = task

    def next_done(self) -> Done:
        done, _ = cf.wait(self._futures, return_when=cf.FIRST_COMPLETED)
        future = min(done, key=lambda f: _order(self._futures[f]))
        task = self._futures.pop(future)
        return task, future.result()

    def pending(self) -> int:
        return len(self._futures)

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Workers of a Dask distributed cluster (``tcp://host:8786``), or a given client."""

    def __init__(self, scheduler: str | None = None, client: Any = None) -> None:
        from distributed import Client

        if client is None:
            if not scheduler:
                raise ConfigError([Problem("--scheduler", "is required with --executor dask "
                                           "(the address of a Dask scheduler)", scheduler)])
            try:
                client = Client(scheduler, timeout="10s")
            except OSError as exc:
                raise ConfigError([Problem("--scheduler", f"cannot be reached ({exc})",
                                           scheduler)]) from None
            self._own = True
        else:
            self._own = False
        self._client = client
        self.workers = max(1, sum(client.nthreads().values()))
        self._futures: dict[Any, RunTask] = {}

    def submit(self, task: RunTask) -> None:
        # pure=False: never let Dask merge two submissions by content.
        future = self._client.submit(execute, task, pure=False)
        self._futures[future] = task

    def next_done(self) -> Done:
        from distributed import wait

        done, _ = wait(list(self._futures), return_when="FIRST_COMPLETED")
        future = min(done, key=lambda f: _order(self._futures[f]))
        task = self._futures.pop(future)
        return task, future.result()

    def pending(self) -> int:
        return len(self._futures)

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        if self._own:
            self._client.close()


def _order(task: RunTask) -> tuple[str, int]:
    return task.key, task.replication


def make_executor(kind: str = LOCAL, *, workers: int | None = None,
                  scheduler: str | None = None, client: Any = None) -> Executor:
    """An executor by name: ``serial``, ``local`` (default) or ``dask``."""
    if kind == SERIAL:
        return SerialExecutor()
    if kind == LOCAL:
        if workers is not None and workers < 1:
            raise ConfigError([Problem("--workers", "must be >= 1", workers)])
        return LocalExecutor(workers)
    if kind == DASK:
        return DaskExecutor(scheduler, client)
    raise ConfigError([Problem("--executor", f"must be one of {', '.join(EXECUTORS)}", kind)])
