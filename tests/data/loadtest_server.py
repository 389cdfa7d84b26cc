"""A tiny HTTP server to record real Locust and k6 output against (tests/data fixtures).

``GET /work`` waits a lognormal time (median 40 ms, sigma 0.5) and answers 200, or
answers 500 with probability 0.05 after the same wait. One thread per connection, so
it behaves as a delay station that closed-loop users can load. Not part of tarsim:
``record_fixtures.sh`` starts it on 127.0.0.1 for the duration of a recording.
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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        with _lock:
            delay = MEDIAN_S * _rng.lognormvariate(0.0, SIGMA)
            fail = _rng.random() < ERROR_PROBABILITY
        time.sleep(delay)
        body = b"error\n" if fail else b"ok\n"
        self.send_response(500 if fail else 200)
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
