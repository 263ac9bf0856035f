"""How many dial-outs per second the simulator takes on this machine (a figure, not a gate).

Run with `pytest -s` to see it. The load comes from threads in this process, so the figure is a
floor: the client side shares the machine's two cores with the simulator.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.simulator.harness import Sim

THREADS = 24
SECONDS = 3.0


def _hammer(sim: Sim, body: dict[str, Any]) -> tuple[int, int, float]:
    """Dial from THREADS threads for SECONDS; return (answered 200, other answers, elapsed)."""
    url = sim.control.dialout_url("st-bench")
    ok = [0] * THREADS
    other = [0] * THREADS
    headers = {"auth": sim.token(exp=int(time.time()) + 600)}  # JTI is not enforced here
    start = threading.Barrier(THREADS + 1)

    def worker(i: int) -> None:
        with httpx.Client(timeout=10) as client:
            start.wait()
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                status = client.post(url, json=body, headers=headers).status_code
                if status == 200:
                    ok[i] += 1
                else:
                    other[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return sum(ok), sum(other), time.monotonic() - began


def test_many_threads_dialing_at_once_are_all_recorded(sim: Sim) -> None:
    body = sim.body()
    silent = {k: v for k, v in body.items() if k != "notifyurl"}
    ok, other, elapsed = _hammer(sim, silent)
    print(
        f"\nsimulator: {ok / elapsed:.0f} dial-outs/s without notifications ({ok} in {elapsed:.1f}s)"
    )
    assert other == 0
    assert sim.settle()["placed"] == ok

    sim.control.reset()
    ok, other, elapsed = _hammer(sim, body)
    stats = sim.settle()
    delivered = stats["notifications"]["delivered"]
    print(
        f"simulator: {ok / elapsed:.0f} dial-outs/s with notifications "
        f"({ok} calls, {delivered} notifications delivered)"
    )
    assert other == 0
    assert stats["placed"] == ok
    assert delivered == stats["notifications"]["sent"] == len(sim.receiver.received)
