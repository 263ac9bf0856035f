"""The operator contract end to end through the real `campaign` CLI against the running stack:
create from a YAML spec, upload a CSV, start, watch it finish, read `status --json`, export."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Stack
from tests.support.procs import CAMPAIGN, wait_for

pytestmark = pytest.mark.e2e

SPEC = {
    "name": "operator-flow",
    "gateway": {
        "bot": "st-flow",
        "caller": "+12706165788",
        "machineDetection": "detect",
        "timers": {"noSpeechTimeoutMs": 500, "decisionTimeoutMs": 500, "toneTimeoutMs": 500},
        "timeoutInMs": 3000,
    },
    "pacing": {"cps": 20, "max_live_calls": 10, "max_call_duration": "2s"},
    "retry": {"max_attempts": 3, "outcomes": {"busy": {"delays": ["1s"]}}},
}


def _cli(stack: Stack, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CAMPAIGN, *args],
        env={**stack.env_os(), **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def _json(stack: Stack, *args: str) -> Any:
    return json.loads(_cli(stack, *args, "--json").stdout)


def test_create_upload_start_status_export(stack: Stack, tmp_path: Path) -> None:
    stack.sim.reset()
    stack.sim.configure(
        mix={"human": 1},
        scripts={"by_number": {"+12015550100": ["busy", "human"]}, "by_suffix": {}},
        faults={},
    )
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "\ufeffphone,timezone,external_id,first_name\r\n"
        "+12015550100,America/New_York,a1,Ann\r\n"
        "2015550101,,a2,Bob\r\n"
        "+12015550100,,a3,Dup\r\n"
        "not-a-number,,a4,Bad\r\n"
        "+442079460000,Europe/London,a5,Eve\r\n",
        encoding="utf-8",
    )

    created = _json(stack, "create", "-f", str(spec_file))
    campaign_id = str(created["id"])
    assert created["spec"]["pacing"]["cps"] == 20
    report = _json(stack, "upload", campaign_id, str(contacts), "--region", "US")
    assert (report["accepted"], report["duplicates"]) == (3, 1)
    assert [r["line"] for r in report["rejected"]] == [5]
    _cli(stack, "start", campaign_id)
    _cli(stack, "start", campaign_id)  # idempotent

    def completed() -> bool:
        return bool(_json(stack, "status", campaign_id)["state"] == "completed")

    wait_for(completed, 60, poll_s=0.5, what="the campaign to complete")
    status = _json(stack, "status", campaign_id)
    assert status["contacts"] == {"done": 3}
    assert status["outcomes"] == {"busy": 1, "human": 3}
    assert status["attempts"] == 4
    assert status["live_calls"] == 0

    out = tmp_path / "export.csv"
    _cli(stack, "export", campaign_id, "-o", str(out))
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert sorted(r["outcome"] for r in rows) == [
        "busy",
        "human",
        "human",
        "human",
    ]


def test_invalid_spec_fails_with_one_line_naming_the_path(stack: Stack, tmp_path: Path) -> None:
    bad = {**SPEC, "retry": {"outcomes": {"busy": {"delays": ["1s", "5x"]}}}}
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(yaml.safe_dump(bad))

    done = _cli(stack, "create", "-f", str(spec_file), ok=False)

    assert done.returncode != 0
    assert 'retry.outcomes.busy.delays[1]: "5x" is not a duration' in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
