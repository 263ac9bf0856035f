"""The account policy on the running system (API, workers, dispatchers as real processes), with
the simulator as the witness of what was dialed: per-number caps across campaigns, a trunk limit
changed mid-run, and the audit trail of the CLI and the API."""

from __future__ import annotations

import getpass
import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import Stack
from tests.support.procs import CAMPAIGN, wait_for

pytestmark = pytest.mark.e2e

OPERATOR = {"Authorization": "Bearer op-key"}
SPEC: dict[str, Any] = {
    "gateway": {
        "bot": "st-account",
        "caller": "+12706165788",
        "timers": {"noSpeechTimeoutMs": 500, "decisionTimeoutMs": 500, "toneTimeoutMs": 500},
        "timeoutInMs": 3000,
    },
    "pacing": {"cps": 10, "max_live_calls": 20, "max_call_duration": "2s"},
    "retry": {"max_attempts": 2},
}


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, headers=OPERATOR, timeout=30) as client:
        yield client
        client.put("/api/v1/account", json={})  # no rules for the module's next test


def _campaign(api: httpx.Client, name: str, phones: list[str], **gateway: Any) -> int:
    spec = {**SPEC, "name": name, "gateway": {**SPEC["gateway"], **gateway}}
    created = api.post("/api/v1/campaigns", json=spec)
    assert created.status_code == 201, created.text
    cid: int = created.json()["id"]
    files = {"file": ("c.csv", ("phone\n" + "\n".join(phones) + "\n").encode(), "text/csv")}
    assert api.post(f"/api/v1/campaigns/{cid}/contacts", files=files).json()["accepted"] == len(
        phones
    )
    return cid


def _status(api: httpx.Client, cid: int) -> dict[str, Any]:
    status: dict[str, Any] = api.get(f"/api/v1/campaigns/{cid}/status").json()
    return status


def test_two_campaigns_sharing_numbers_call_each_number_once_a_day(
    stack: Stack, api: httpx.Client
) -> None:
    stack.sim.reset()
    stack.sim.configure(mix={"human": 1}, faults={})
    assert api.put(
        "/api/v1/account", json={"compliance": {"per_number": {"per_day": 1}}}
    ).is_success
    phones = [f"+1201555{n:04d}" for n in range(300, 320)]
    first = _campaign(api, "shared-a", phones)
    second = _campaign(api, "shared-b", phones)
    for cid in (first, second):
        assert api.post(f"/api/v1/campaigns/{cid}/start").is_success

    def settled() -> bool:
        statuses = [_status(api, cid) for cid in (first, second)]
        done = sum(s["contacts"].get("done", 0) for s in statuses)
        capped = sum(
            n for s in statuses for why, n in s["waiting"].items() if why.startswith("account cap")
        )
        return done == len(phones) and capped == len(phones)

    wait_for(settled, 60, poll_s=0.5, what="each number called once and its twin held")
    time.sleep(2)  # anything still to come would show now
    dialed = Counter("+" + call["number"] for call in stack.sim.calls())
    assert dialed == Counter(phones)  # each number once, across both campaigns
    # Held for the cap, or (until the first calls' finals are seen: looked at again each
    # minute) because the number was on a call.
    waiting: Counter[str] = Counter()
    for cid in (first, second):
        waiting.update(_status(api, cid)["waiting"])
    assert sum(waiting.values()) == len(phones)
    assert all(why.startswith("account cap: ") for why in waiting)
    for cid in (first, second):
        api.post(f"/api/v1/campaigns/{cid}/cancel")


def test_a_trunk_limit_changed_mid_run_is_seen_at_the_simulator_within_seconds(
    stack: Stack, api: httpx.Client
) -> None:
    stack.sim.reset()
    stack.sim.configure(mix={"human": 1}, faults={})
    phones = [f"+1201555{n:04d}" for n in range(400, 600)]
    cid = _campaign(api, "trunk-limit", phones, trunk="carrier-e2e")
    assert api.post(f"/api/v1/campaigns/{cid}/start").is_success
    wait_for(lambda: len(stack.sim.calls()) >= 20, 30, poll_s=0.1, what="the run to be going")
    policy = {"trunks": {"carrier-e2e": {"cps": 1}}}
    assert api.put("/api/v1/account", json=policy).is_success
    changed_at = time.time()
    time.sleep(8)
    placed = sorted(call["placed_at"] for call in stack.sim.calls())
    before = [t for t in placed if changed_at - 3 <= t < changed_at]
    settled = [t for t in placed if changed_at + 2 <= t < changed_at + 8]
    assert len(before) >= 12  # about 10/s under the campaign's own pacing
    assert 3 <= len(settled) <= 8  # 1/s on the trunk once the change is seen (6 s, with slack)
    assert {call["trunk"] for call in stack.sim.calls()} == {"carrier-e2e"}
    api.post(f"/api/v1/campaigns/{cid}/cancel")


def test_the_audit_trail_names_the_cli_user_and_the_api_key(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    policy = tmp_path / "account.yaml"
    policy.write_text(yaml.safe_dump({"compliance": {"holidays": ["GB"]}}))
    env = {**stack.env_os(), **stack.env}

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [*CAMPAIGN, *args, "--json"], env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    applied = cli("account", "apply", "-f", str(policy))
    assert applied["applied_by"] == f"cli:{getpass.getuser()}"
    assert cli("account", "show")["policy"]["compliance"]["holidays"] == ["GB"]
    assert api.put("/api/v1/account", json={"compliance": {"holidays": ["US"]}}).is_success
    trail = cli("audit", "--since", "5m")["items"]
    applies = [(e["actor"], e["after"]["compliance"]["holidays"]) for e in trail
               if e["action"] == "account.apply"]  # fmt: skip
    assert applies[-2][0] == f"cli:{getpass.getuser()}"
    assert applies[-2][1] == ["GB"]
    assert applies[-1][0].startswith("key:")
    assert applies[-1][1] == ["US"]
    over_http = api.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
    assert [e["id"] for e in over_http][-len(trail) :] == [e["id"] for e in trail]
