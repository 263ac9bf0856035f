"""The standalone benches (`python -m bench.dial_cpu`, `drain_cpu`, `release_cpu`, `trunk_full`,
`message_cpu`) still run, each as its own process as an operator runs it (`drain_cpu` binds the
worker's runtime before the task module is imported: it only works in a fresh process), at a
handful of attempts or seconds, and print their figures. Figures are printed, never judged; only
what must hold on any host is asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import trunk_full

pytestmark = pytest.mark.e2e


def _bench(module: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    ("module", "unit"),
    [
        ("bench.dial_cpu", "dial"),
        ("bench.drain_cpu", "final"),
        ("bench.release_cpu", "queued_attempt"),
    ],
)
def test_cpu_bench_prints_its_figures(module: str, unit: str) -> None:
    out = _bench(module, "--count", "5", "--rounds", "1")

    for figure in ("worker_cpu_ms_per_", "postgres_cpu_ms_per_", "round_trips_per_"):
        assert f"{figure}{unit} " in out


def test_trunk_full_prints_its_figures() -> None:
    out = _bench("bench.trunk_full", "--seconds", "2")

    for figure in ("workers_cpu_ms_per_s", "dispatcher_cpu_ms_per_s", "calls_placed"):
        assert f"trunk_full_{figure} " in out
    waiting = int(out.split("trunk_full_attempts_waiting ")[1].split()[0])
    # A full trunk holds no queue of dial tasks: each campaign may take the whole room a tick
    # began with, so at most the cap per campaign is open on it, not cps x horizon each (40).
    assert waiting <= trunk_full.CAMPAIGNS * trunk_full.TRUNK_CAP


def test_message_cpu_prints_its_figures() -> None:
    out = _bench("bench.message_cpu", "--count", "20", "--rounds", "1")

    for figure in ("worker_cpu_ms_per_message", "messages_per_s"):
        assert f"{figure} " in out
