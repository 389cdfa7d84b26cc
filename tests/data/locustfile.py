"""Locust users for record_fixtures.sh: closed loop, no think time, one endpoint.

With ``TARSIM_STEPS=1`` a load shape runs 2 users for 8 s, then 6 users for 8 s, so
that the stats history holds two plateaus of different user counts.
"""

from __future__ import annotations

import os
import time

from locust import HttpUser, LoadTestShape, constant, events, task

PATH = os.environ.get("TARSIM_PATH", "/work")
RAW = os.environ.get("TARSIM_RAW")


class Client(HttpUser):
    wait_time = constant(0)

    @task
    def work(self) -> None:
        self.client.get(PATH)


if RAW:
    _raw = open(RAW, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run
    _raw.write("timestamp,latency,ok,name\n")

    @events.request.add_listener
    def _record(name: str, response_time: float, exception: object, **_: object) -> None:
        latency = response_time / 1000.0
        _raw.write(f"{time.time() - latency:.6f},{latency:.6f},{int(exception is None)},"
                   f"{name}\n")

    @events.quitting.add_listener
    def _close(**_: object) -> None:
        _raw.close()


if os.environ.get("TARSIM_STEPS") == "1":

    class TwoPlateaus(LoadTestShape):
        plateaus = ((8, 2), (16, 6))

        def tick(self) -> tuple[int, float] | None:
            now = self.get_run_time()
            for until, users in self.plateaus:
                if now < until:
                    return users, 100.0
            return None
