"""Where runs execute: one way for every command, on :mod:`concurrent.futures` -
in this process (serial), on a local process pool, or on a Dask cluster through
``Client.get_executor()`` - with the same results on each.

A run is a :class:`RunTask` (a model, the horizon, the warm-up, the seed and the
replication); its result is what the run function makes of that replication:
the flat summary (:func:`execute`: sweeps, capacity), the summary
(:func:`summary_run`: ``tarsim run``) or the records (:func:`record_run`:
scenarios, timelines). Runs take
their random numbers from streams keyed by (seed, replication, source), so the
executor, the worker and the order of completion cannot change a result.

A :class:`Runner` submits tasks to any ``concurrent.futures.Executor`` and hands
back each :class:`Outcome` as it finishes. A run that raises is an outcome with
its error, not an exception: the caller records it and goes on. A worker that
dies (killed by the OOM killer, say) breaks a process pool; the runner starts a
new pool and runs the tasks that were in flight again one at a time, so the task
that kills its worker is found and reported as failed, and the others finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from tarsim import metrics
from tarsim.config import ConfigError, Model, Problem
from tarsim.intervals import SKETCH
from tarsim.run import simulate

SERIAL, LOCAL, DASK = "serial", "local", "dask"
SAMPLES = SKETCH + "."
"""A run's latency sketch (lists) travels with its metrics: the pooled quantiles need it."""
EXECUTORS = (SERIAL, LOCAL, DASK)
SCHEDULER_TIMEOUT_S = 10.0
"""How long a Dask scheduler may take to answer a first connection."""


@dataclass(frozen=True)
class RunTask:
    """One replication of one point. The validated model travels as it is (it
    pickles to any process or machine running tarsim), so a run never validates
    its model again or re-reads data files to check them."""

    key: str
    replication: int
    model: Model
    duration: float
    warmup: float
    seed: int

    @classmethod
    def of(cls, key: str, replication: int, model: Model, duration: float, warmup: float,
           seed: int) -> RunTask:
        return cls(key, replication, model, duration, warmup, seed)


def execute(task: RunTask) -> dict[str, Any]:
    """Simulate one replication; its summary with flat metric paths
    (``latency.p99``), identity fields and logs (such as ``mode_changes``) dropped."""
    records = simulate(task.model, duration=task.duration, warmup=task.warmup,
                       seed=task.seed, replication=task.replication)
    flat = metrics.flatten(metrics.summarize(records))
    return {key: value for key, value in flat.items()
            if key not in metrics.IDENTITY_KEYS
            and (not isinstance(value, list) or key.startswith(SAMPLES))}


def summary_run(task: RunTask) -> dict[str, Any]:
    """Simulate one replication; its whole summary (as ``tarsim run`` prints it)."""
    return metrics.summarize(simulate(task.model, duration=task.duration,
                                      warmup=task.warmup, seed=task.seed,
                                      replication=task.replication))


def record_run(task: RunTask) -> Any:
    """Simulate one replication; its records (for time series and request rows)."""
    return simulate(task.model, duration=task.duration, warmup=task.warmup, seed=task.seed,
                    replication=task.replication)


RunFunction = Callable[[RunTask], Any]


@dataclass(frozen=True)
class Outcome:
    """A finished task: its metrics, or the error it ended with."""

    task: RunTask
    metrics: Any
    error: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def failed(self) -> bool:
        return self.error is not None


class SerialExecutor(cf.Executor):
    """A ``concurrent.futures`` executor that runs each task in this process, in
    submission order, when its result is first waited for (so a sweep stores
    each run as it finishes rather than all at the end)."""

    def __init__(self) -> None:
        self._queue: deque[tuple[cf.Future[Any], Callable[[], Any]]] = deque()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        self._queue.append((future, lambda: fn(*args, **kwargs)))
        return future

    def run_next(self) -> None:
        """Run the oldest task not yet run."""
        with self._lock:
            future, call = self._queue.popleft()
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call())
        except Exception as exc:  # the runner reports it as the run's error
            future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        while self._queue:
            self._queue.popleft()[0].cancel()


class Runner:
    """Tasks in, outcomes out, on one ``concurrent.futures`` executor.

    *own* says whether :meth:`close` shuts the executor down; *restart* makes a
    fresh executor after a process pool broke (None: no restart).

    When a worker dies, every task in flight fails with the pool and none can be
    blamed. The runner then runs those tasks again one at a time on a fresh pool
    (holding back new ones): a task that breaks the pool alone is the one that
    kills its worker, and is reported as failed; the others finish normally."""

    def __init__(self, executor: cf.Executor, workers: int, *, own: bool = True,
                 restart: Callable[[], cf.Executor] | None = None,
                 run: RunFunction | None = None) -> None:
        self.executor = executor
        self.workers = workers
        self._own = own
        self._restart = restart
        self._run = run or execute
        self._futures: dict[cf.Future[Any], RunTask] = {}
        self._ready: deque[Outcome] = deque()
        self._suspects: deque[RunTask] = deque()
        self._held: deque[RunTask] = deque()
        self._isolating = False

    def submit(self, task: RunTask) -> None:
        if self._isolating or self._suspects:
            self._held.append(task)
        else:
            self._send(task)

    def _send(self, task: RunTask) -> None:
        self._futures[self.executor.submit(self._run, task)] = task

    def pending(self) -> int:
        return len(self._futures) + len(self._ready) + len(self._suspects) + len(self._held)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """*fn* (a module-level function, so that it pickles) of each item, on the
        executor's workers, in the order of *items*; a failure raises. Used for work
        that is not a run, such as screening, before any run is submitted."""
        if isinstance(self.executor, SerialExecutor) or len(items) < 2:
            return [fn(item) for item in items]
        futures = [self.executor.submit(fn, item) for item in items]
        return [future.result() for future in futures]

    def next_done(self) -> Outcome:
        """Block until a submitted task finishes; its outcome."""
        while not self._ready:
            self._pump()
            if isinstance(self.executor, SerialExecutor):
                self.executor.run_next()
            done, _ = cf.wait(self._futures, return_when=cf.FIRST_COMPLETED)
            self._collect(done)
        return self._ready.popleft()

    def _pump(self) -> None:
        """After a break: the next suspect alone, or, when all are cleared, the held."""
        if self._futures:
            return
        if self._suspects:
            self._isolating = True
            self._send(self._suspects.popleft())
        elif self._isolating or self._held:
            self._isolating = False
            while self._held:
                self._send(self._held.popleft())

    def _collect(self, done: set[cf.Future[Any]]) -> None:
        broken: list[RunTask] = []
        for future in sorted(done, key=lambda f: _order(self._futures[f])):
            task = self._futures.pop(future)
            error = future.exception()
            if error is None:
                self._ready.append(Outcome(task, future.result()))
            elif isinstance(error, BrokenProcessPool):
                broken.append(task)
            else:
                self._ready.append(Outcome(task, None, _describe(error), error))
        if broken:
            self._recover(broken + list(self._futures.values()))

    def _recover(self, in_flight: list[RunTask]) -> None:
        self._futures.clear()
        alone = self._isolating and len(in_flight) == 1
        if self._restart is None or alone:
            for task in in_flight:
                self._ready.append(Outcome(task, None, "the worker running it died "
                                           "(BrokenProcessPool: killed, or out of memory?)"))
        else:
            self._suspects.extend(sorted(in_flight, key=_order))
        if self._restart is not None:
            _shutdown(self.executor, wait=False)
            self.executor = self._restart()

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        if self._own:
            _shutdown(self.executor)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replicate(runner: Runner, tasks: list[RunTask]) -> list[Any]:
    """Run *tasks* on *runner*; their results in the order of *tasks*. A run that
    fails raises its own exception (these callers have no failed-run table)."""
    for task in tasks:
        runner.submit(task)
    done: dict[tuple[str, int], Any] = {}
    for _ in tasks:
        outcome = runner.next_done()
        if outcome.error is not None:  # the runner's owner closes it
            raise outcome.exception or RuntimeError(outcome.error)
        done[_order(outcome.task)] = outcome.metrics
    return [done[_order(task)] for task in tasks]


def _shutdown(executor: cf.Executor, wait: bool = True) -> None:
    try:
        executor.shutdown(wait=wait, cancel_futures=True)
    except TypeError:  # Dask's ClientExecutor: shutdown(wait=False) cancels what is left
        executor.shutdown(wait=False)


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")[:500]


def _order(task: RunTask) -> tuple[str, int]:
    return task.key, task.replication


def _local_pool(workers: int) -> cf.Executor:
    return cf.ProcessPoolExecutor(max_workers=workers)


def _handshake(address: str, seconds: float) -> None:
    """Open and close one Dask connection to *address* within *seconds*: a server
    that accepts the connection but never answers as a scheduler would (an HTTP
    server, say) would otherwise hold ``Client()`` forever."""
    import asyncio

    from distributed.comm import connect

    async def attempt() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=seconds), seconds)
        await comm.close()

    asyncio.run(attempt())


def _dask_executor(scheduler: str | None, client: Any) -> tuple[cf.Executor, int, Any]:
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError([Problem("--executor", "dask needs Dask distributed, an extra: "
                                   "pip install 'tarsim[dask]'", "dask")]) from None

    own_client = None
    if client is None:
        if not scheduler:
            raise ConfigError([Problem("--scheduler", "is required with --executor dask "
                                       "(the address of a Dask scheduler)", scheduler)])
        if "://" in scheduler and not scheduler.startswith(("tcp://", "tls://", "inproc://",
                                                            "ucx://", "ws://", "wss://")):
            raise ConfigError([Problem("--scheduler", "must be a Dask scheduler address "
                                       "(tcp://host:8786)", scheduler)])
        try:
            _handshake(scheduler, SCHEDULER_TIMEOUT_S)
            client = Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError([Problem("--scheduler", f"cannot be reached, or is not a Dask "
                                       f"scheduler ({exc or type(exc).__name__})",
                                       scheduler)]) from None
        own_client = client
    workers = max(1, sum(client.nthreads().values()))
    # pure=False: never let Dask merge two submissions by content.
    return client.get_executor(pure=False), workers, own_client


class _DaskRunner(Runner):
    """A runner on a Dask client's executor; closes the client it opened."""

    def __init__(self, executor: cf.Executor, workers: int, client: Any,
                 run: RunFunction | None) -> None:
        super().__init__(executor, workers, own=True, run=run)
        self._client = client

    def close(self) -> None:
        super().close()
        if self._client is not None:
            self._client.close()


def make_executor(kind: str = LOCAL, *, workers: int | None = None,
                  scheduler: str | None = None, client: Any = None,
                  run: RunFunction | None = None) -> Runner:
    """A runner on an executor named ``serial``, ``local`` (default) or ``dask``."""
    if kind == SERIAL:
        return Runner(SerialExecutor(), 1, run=run)
    if kind == LOCAL:
        if workers is not None and workers < 1:
            raise ConfigError([Problem("--workers", "must be >= 1", workers)])
        count = workers or os.cpu_count() or 1
        return Runner(_local_pool(count), count, restart=lambda: _local_pool(count), run=run)
    if kind == DASK:
        executor, count, own_client = _dask_executor(scheduler, client)
        return _DaskRunner(executor, count, own_client, run)
    raise ConfigError([Problem("--executor", f"must be one of {', '.join(EXECUTORS)}", kind)])


Executor = Runner
"""What runs a sweep's or a search's tasks (the name callers type)."""
