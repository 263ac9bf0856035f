"""How many dial-outs per second the simulator takes on this machine (figures, not gates).

Run with `pytest -s` to see them. The load comes from threads in the test process and the
notifications go to a sink in a third process, all on the machine's two cores, so the wall-clock
rate is a floor. The simulator's own CPU time per dial-out is printed too: its inverse is the rate
one free core would sustain, a figure that other load on the machine barely moves.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.simulator.harness import Sim, start_process, stop_process
from tests.simulator.sink import ANNOUNCE as SINK_ANNOUNCE

SimProcess = tuple[subprocess.Popen[bytes], str]
THREADS = 24
SECONDS = 3.0


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[str]:
    proc, url = start_process(tmp_path / "sink.log", ["-m", "tests.simulator.sink"], SINK_ANNOUNCE)
    try:
        yield url
    finally:
        stop_process(proc)


def _report(label: str, ok: int, elapsed: float, cpu_s: float, extra: str = "") -> None:
    print(
        f"\nsimulator ({label}): {ok / elapsed:.0f} dial-outs/s wall ({ok} in {elapsed:.1f}s); "
        f"{1000 * cpu_s / ok:.2f} ms simulator CPU each = {ok / cpu_s:.0f}/s per core{extra}"
    )


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


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


def test_dial_outs_per_second_without_notifications(sim: Sim, sim_process: SimProcess) -> None:
    body = {k: v for k, v in sim.body().items() if k != "notifyurl"}
    cpu_before = _cpu_s(sim_process[0].pid)
    ok, other, elapsed = _hammer(sim, body)
    stats = sim.control.wait_quiet(timeout_s=60)
    _report("no notifyurl", ok, elapsed, _cpu_s(sim_process[0].pid) - cpu_before)
    assert other == 0
    assert stats["placed"] == ok


def test_dial_outs_per_second_with_notifications(
    sim: Sim, sim_process: SimProcess, sink: str
) -> None:
    body = {**sim.body(), "notifyurl": f"{sink}/notify"}
    cpu_before = _cpu_s(sim_process[0].pid)
    ok, other, elapsed = _hammer(sim, body)
    stats = sim.control.wait_quiet(timeout_s=60)
    cpu_s = _cpu_s(sim_process[0].pid) - cpu_before
    notes = stats["notifications"]
    received = int(httpx.get(f"{sink}/count").text)
    extra = f"; {notes['sent']} notifications sent, {notes['delivery_failures']} failed"
    _report("with notifications", ok, elapsed, cpu_s, extra)
    assert other == 0
    assert stats["placed"] == ok
    assert received >= notes["delivered"]
