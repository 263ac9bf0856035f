"""Priority and caller-ID pools end to end: the real CLI, 2 workers and 2 dispatcher processes,
and the simulator, which records the caller of every dial-out it received, in placement order."""

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

KENTUCKY, MANHATTAN, CHICAGO = "+12706165788", "+12125550100", "+13125550100"
SPEC = {
    "name": "priority-callers",
    "gateway": {
        "bot": "st-pool",
        "caller": [KENTUCKY, MANHATTAN, CHICAGO],
        "caller_strategy": "local_presence",
        "max_calls_per_day": 100,
        "machineDetection": "detect",
        "timers": {"noSpeechTimeoutMs": 500, "decisionTimeoutMs": 500, "toneTimeoutMs": 500},
        "timeoutInMs": 3000,
    },
    # Slow on purpose: two calls out at a time, so later claims see what earlier ones left.
    "pacing": {"cps": 2, "max_live_calls": 2, "max_call_duration": "2s"},
    "retry": {"max_attempts": 1},
}
# number, priority, the caller local presence must pick (None: any, round robin)
CONTACTS = [
    ("+12125550181", 0, MANHATTAN),
    ("+13125550182", 0, CHICAGO),
    ("+12705550183", 5, KENTUCKY),
    ("+14155550184", 5, None),
    ("+12125550185", 9, MANHATTAN),
    ("+13125550186", 9, CHICAGO),
]


def _cli(stack: Stack, *args: str, json_out: bool = True) -> Any:
    done = subprocess.run(
        [*CAMPAIGN, *args, *(["--json"] if json_out else [])],
        env={**stack.env_os(), **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if json_out else None


def test_local_callers_dial_the_highest_priority_first(stack: Stack, tmp_path: Path) -> None:
    stack.sim.reset()
    stack.sim.configure(mix={"human": 1}, faults={})
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "phone,priority\n" + "".join(f"{n},{p}\n" for n, p, _ in CONTACTS), encoding="utf-8"
    )

    campaign_id = str(_cli(stack, "create", "-f", str(spec_file))["id"])
    assert _cli(stack, "upload", campaign_id, str(contacts))["accepted"] == len(CONTACTS)
    _cli(stack, "start", campaign_id)
    wait_for(
        lambda: _cli(stack, "status", campaign_id)["state"] == "completed",
        60,
        poll_s=0.5,
        what="the campaign to complete",
    )

    out = tmp_path / "export.csv"
    _cli(stack, "export", campaign_id, "-o", str(out), json_out=False)
    with out.open(newline="") as f:
        exported = {row["number"]: row["caller"] for row in csv.DictReader(f)}
    received = [("+" + c["target"].removeprefix("tel:"), c["caller"]) for c in stack.sim.calls()]
    assert dict(received) == exported  # the caller sent is the caller recorded
    for number, _, local in CONTACTS:
        assert exported[number] == local if local else exported[number] in SPEC["gateway"]["caller"]
    placed = [number for number, _ in received]
    priority = {number: p for number, p, _ in CONTACTS}
    first_zero = min(i for i, n in enumerate(placed) if priority[n] == 0)
    last_nine = max(i for i, n in enumerate(placed) if priority[n] == 9)
    assert last_nine < first_zero, placed
