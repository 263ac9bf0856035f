"""The per-step CPU benches (`python -m bench.dial_cpu`, `drain_cpu`, `release_cpu`) still run:
each at a handful of attempts prints its per-unit figures. Figures are printed, never judged."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from bench import dial_cpu, drain_cpu, release_cpu

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
