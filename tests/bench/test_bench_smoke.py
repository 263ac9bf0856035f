"""The benchmark harness still runs end to end: every suite at a tiny size produces its figures.

Figures are printed, never judged here (a loaded CI machine is not a benchmark machine); only their
presence and shape are checked, so the harness cannot rot between full runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.e2e


def test_every_suite_produces_figures_at_tiny_size(tmp_path: Path) -> None:
    results, markdown = tmp_path / "results.json", tmp_path / "report.md"

    status = main(["--size", "tiny", "--results", str(results), "--markdown", str(markdown)])

    figures = json.loads(results.read_text())
    for entry in figures:
        print(f"{entry['name']:<40} {entry['value']:>12} {entry['unit']}")
    assert status == 0
    names = {entry["name"] for entry in figures}
    prefixes = (
        "claim_",
        "pacing_ratio_",
        "engine_over_limit_windows_",
        "naive_",
        "loop_attempts",
        "notify_",
        "ingest_",
        "console_",
        "forecast_ms_",
        "forecast_error_",
        "host_reference_ms",
    )
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in names), prefix
    assert all(set(entry) <= {"name", "value", "unit", "target"} for entry in figures)
    assert "| figure |" in markdown.read_text()
