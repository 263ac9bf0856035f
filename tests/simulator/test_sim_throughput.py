"""How many dial-outs per second the simulator takes on this machine (figures, not gates).

Run with `pytest -s` to see them. The load comes from threads in the test process and the
notifications go to a sink in a third process, all on the machine's two cores, so the figures
are floors for the simulator itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.simulator.harness import Sim, start_process, stop_process
from tests.simulator.sink import ANNOUNCE as SINK_ANNOUNCE

THREADS = 24
SECONDS = 3.0


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[str]:
    proc, url = start_process(tmp_path / "sink.log", ["-m", "tests.simulator.sink"], SINK_ANNOUNCE)
    try:
        yield url
    finally:
        stop_process(proc)


def _hammer(sim: Sim, body: dict[str, Any]) -> tuple[int, int, float]:
    """Dial from THREADS threads for SECONDS; return (answered 200, other answers, elapsed)."""
    url = sim.control.dialout_url("st-bench")
    ok = [0] * THREADS
    other = [0] * THREADS
    headers = {"auth": sim.token(exp=int(time.time()) + 600)}  # JTI is not enforced here
    start = threading.Barrier(THREADS + 1)

    def worker(i: int) -> None:
        with httpx.Client(timeout=30) as client:
            start.wait()
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                if client.post(url, json=body, headers=headers).status_code == 200:
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


def test_dial_outs_per_second_without_notifications(sim: Sim) -> None:
    body = {k: v for k, v in sim.body().items() if k != "notifyurl"}
    ok, other, elapsed = _hammer(sim, body)
    print(f"\nsimulator: {ok / elapsed:.0f} dial-outs/s, no notifyurl ({ok} in {elapsed:.1f}s)")
    assert other == 0
    assert sim.control.wait_quiet(timeout_s=60)["placed"] == ok


def test_dial_outs_per_second_with_notifications(sim: Sim, sink: str) -> None:
    body = {**sim.body(), "notifyurl": f"{sink}/notify"}
    ok, other, elapsed = _hammer(sim, body)
    stats = sim.control.wait_quiet(timeout_s=60)
    notes = stats["notifications"]
    received = int(httpx.get(f"{sink}/count").text)
    print(
        f"\nsimulator: {ok / elapsed:.0f} dial-outs/s with notifications ({ok} calls; "
        f"{notes['sent']} notifications sent, {notes['delivery_failures']} failed)"
    )
    assert other == 0
    assert stats["placed"] == ok
    assert received >= notes["delivered"]
