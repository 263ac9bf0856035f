"""The standalone benches (`python -m bench.dial_cpu`, `drain_cpu`, `release_cpu`, `trunk_full`)
still run, each at a handful of attempts or seconds, and print their figures. Figures are printed,
never judged; only what must hold on any host is asserted."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from bench import dial_cpu, drain_cpu, release_cpu, trunk_full

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("module", "unit"),
    [(dial_cpu, "dial"), (drain_cpu, "final"), (release_cpu, "queued_attempt")],
)
def test_cpu_bench_prints_its_figures(
    module: ModuleType,
    unit: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", [module.__name__, "--count", "5", "--rounds", "1"])

    module.main()

    out = capsys.readouterr().out
    print(out)
    for figure in ("worker_cpu_ms_per_", "postgres_cpu_ms_per_", "round_trips_per_"):
        assert f"{figure}{unit} " in out


def test_trunk_full_prints_its_figures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench.trunk_full", "--seconds", "2"])

    trunk_full.main()

    out = capsys.readouterr().out
    print(out)
    for figure in ("workers_cpu_ms_per_s", "dispatcher_cpu_ms_per_s", "calls_placed"):
        assert f"trunk_full_{figure} " in out
    waiting = int(out.split("trunk_full_attempts_waiting ")[1].split()[0])
    # A full trunk holds no queue of dial tasks: each campaign may take the whole room a tick
    # began with, so at most the cap per campaign is open on it, not cps x horizon each (40).
    assert waiting <= trunk_full.CAMPAIGNS * trunk_full.TRUNK_CAP
