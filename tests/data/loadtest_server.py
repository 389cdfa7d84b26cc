"""A tiny HTTP server to record real Locust and k6 output against (tests/data fixtures).

``GET /work`` waits a lognormal time (median 40 ms, sigma 0.5) and answers 200, or
answers 500 with probability 0.05 after the same wait. One thread per connection, so
it behaves as a delay station that closed-loop users can load. Not part of tarsim:
``record_fixtures.sh`` starts it on 127.0.0.1 for the duration of a recording.

``GET /agent`` is a small agent service, the end-to-end calibration example
(``record_agent.sh``): 8 worker slots (requests wait for one, first come first
served); in a slot, ``AGENT_WORK`` of its own work (lognormal, median 20 ms,
sigma 0.3), then two LLM calls one after the other. Each call is an attempt
against a rate-limited upstream: a token bucket of ``LLM_RATE`` calls per
second holding ``LLM_BURST`` calls. An admitted attempt takes its time to first
token (lognormal, median 80 ms, sigma 0.4: nothing streams after it); a refused
one answers 429 after ``REJECT_S`` with a retry-after (the time until the bucket
has room), which the client honours, SDK-style, for up to 3 attempts in all. A
call refused 3 times fails the request: 429 to the load tool.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MEDIAN_S = 0.040
SIGMA = 0.5
ERROR_PROBABILITY = 0.05
_rng = random.Random(20260213)
_lock = threading.Lock()


AGENT_SLOTS = 8
AGENT_WORK_MEDIAN_S, AGENT_WORK_SIGMA = 0.020, 0.3
FIRST_TOKEN_MEDIAN_S, FIRST_TOKEN_SIGMA = 0.080, 0.4
LLM_RATE = 60.0
LLM_BURST = 5.0
REJECT_S = 0.005
ATTEMPTS = 3
_slots = threading.Semaphore(AGENT_SLOTS)


class Bucket:
    """A token bucket refilling continuously, starting full."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity, self.level = rate, capacity, capacity
        self.t = time.monotonic()

    def take(self) -> float:
        """0.0 and one token taken, or the seconds until one token is there."""
        with _lock:
            now = time.monotonic()
            self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
            self.t = now
            if self.level >= 1.0:
                self.level -= 1.0
                return 0.0
            return (1.0 - self.level) / self.rate


_bucket = Bucket(LLM_RATE, LLM_BURST)


def _lognormal(median: float, sigma: float) -> float:
    with _lock:
        return median * _rng.lognormvariate(0.0, sigma)


def _llm_call() -> bool:
    """One LLM call with SDK-style retries honouring retry-after; True on success."""
    for attempt in range(ATTEMPTS):
        retry_after = _bucket.take()
        if retry_after == 0.0:
            time.sleep(_lognormal(FIRST_TOKEN_MEDIAN_S, FIRST_TOKEN_SIGMA))
            return True
        time.sleep(REJECT_S)
        if attempt < ATTEMPTS - 1:
            time.sleep(retry_after)
    return False


def _agent() -> bool:
    with _slots:
        time.sleep(_lognormal(AGENT_WORK_MEDIAN_S, AGENT_WORK_SIGMA))
        return _llm_call() and _llm_call()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/agent"):
            ok = _agent()
            self._answer(200 if ok else 429, b"ok\n" if ok else b"rate limited\n")
            return
        with _lock:
            delay = MEDIAN_S * _rng.lognormvariate(0.0, SIGMA)
            fail = _rng.random() < ERROR_PROBABILITY
        time.sleep(delay)
        self._answer(500 if fail else 200, b"error\n" if fail else b"ok\n")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The load tool stops its users mid-request at the end of a run.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the load tools keep their own records."""


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
