"""`python -m chaos --quick` end to end: a small campaign under one of each fault keeps every
promise, judged from the simulator's records, and the harness writes its results.

The full run (`make chaos`) is too long for `make test`; this keeps the harness from rotting and
still puts a real worker kill, a 500 burst, a dead API and both servers restarting in the suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.__main__ import main
from chaos.plan import QUICK, Kind

pytestmark = pytest.mark.e2e


def test_a_quick_chaos_run_keeps_every_promise(tmp_path: Path) -> None:
    results = tmp_path / "results.json"

    status = main(["--quick", "--results", str(results), "--run-dir", str(tmp_path / "run")])

    data = json.loads(results.read_text())
    assert (status, data["broken"], data["invalid"]) == (0, [], []), data["log_dir"]
    assert {f["kind"] for f in data["faults"]} == set(Kind)
    assert data["contacts"] == QUICK.contacts
    assert data["calls_made"] == data["calls_implied"]
    assert (tmp_path / "run" / "logs" / "report.md").exists()
