"""Locust users for record_fixtures.sh: closed loop, no think time, one endpoint.

With ``TARSIM_STEPS=1`` a load shape runs 2 users for 8 s, then 6 users for 8 s, so
that the stats history holds two plateaus of different user counts.
"""

from __future__ import annotations

import os

from locust import HttpUser, LoadTestShape, constant, task


class Client(HttpUser):
    wait_time = constant(0)

    @task
    def work(self) -> None:
        self.client.get("/work")


if os.environ.get("TARSIM_STEPS") == "1":

    class TwoPlateaus(LoadTestShape):
        plateaus = ((8, 2), (16, 6))

        def tick(self) -> tuple[int, float] | None:
            now = self.get_run_time()
            for until, users in self.plateaus:
                if now < until:
                    return users, 100.0
            return None
