"""Dispositions on the running system: the simulator plays the bot, posting each disposition to the
URL the dial-out's `metadata.campaign` carried, before or after the call's final notification;
the engine's processes (API, workers, dispatchers) do the rest. The simulator is the witness of
what was dialed, the contacts API of what the engine made of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests import factories
from tests.e2e.conftest import TIME_SCALE, Stack
from tests.support.procs import wait_for

pytestmark = pytest.mark.e2e

OPERATOR = {"Authorization": "Bearer op-key"}
NEW_YORK = ZoneInfo("America/New_York")  # the zone of the +1 201 numbers
SPEC: dict[str, Any] = {
    "gateway": {
        "bot": "st-dispositions",
        "caller": "+12706165788",
        "machineDetection": "detect",
        "timers": {"noSpeechTimeoutMs": 500, "decisionTimeoutMs": 500, "toneTimeoutMs": 500},
        "timeoutInMs": 3000,
    },
    "pacing": {"cps": 20, "max_live_calls": 20, "max_call_duration": "10s"},
    # A machine would be called again in an hour, a busy line in 3 s: what a disposition overrides.
    "retry": {
        "max_attempts": 3,
        "outcomes": {"machine": {"delays": ["1h"]}, "busy": {"delays": ["3s"]}},
    },
}
BEFORE_FINAL = 0.5  # simulated seconds after the answer: the call is still on
AFTER_FINAL = 20 + 1.5 / TIME_SCALE  # 1.5 s of wall time after the end: its final was applied


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    stack.sim.reset()
    with httpx.Client(base_url=stack.api_url, headers=OPERATOR, timeout=30) as client:
        yield client


def _campaign(api: httpx.Client, phones: list[str]) -> int:
    created = api.post("/api/v1/campaigns", json={**SPEC, "name": f"dispositions-{phones[0]}"})
    assert created.status_code == 201, created.text
    cid: int = created.json()["id"]
    files = {"file": ("c.csv", ("phone\n" + "\n".join(phones) + "\n").encode(), "text/csv")}
    assert api.post(f"/api/v1/campaigns/{cid}/contacts", files=files).json()["accepted"] == len(
        phones
    )
    assert api.post(f"/api/v1/campaigns/{cid}/start").is_success
    return cid


def _contact(api: httpx.Client, cid: int, phone: str) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"/api/v1/campaigns/{cid}/contacts/{phone}").json()
    return found


def _bot(body: dict[str, Any], at_s: float, outcome: str = "machine") -> dict[str, Any]:
    """A call answered at once that lasts 20 simulated seconds, disposed of by the bot `at_s`
    after the answer."""
    return {
        "outcome": outcome,
        "ring_s": 0,
        "talk_s": 20,
        "amd": "amd_machine_detected" if outcome == "machine" else None,
        "disposition": {"at_s": at_s, "body": body},
    }


def _local(at: datetime) -> str:
    """`at` as a bot writes a callback time: New York wall time, to the second, no offset."""
    return at.astimezone(NEW_YORK).replace(tzinfo=None).isoformat(timespec="seconds")


def test_each_disposition_wins_over_the_outcome_whatever_the_order(
    stack: Stack, api: httpx.Client
) -> None:
    later = _local(datetime.now(UTC) + timedelta(hours=2))
    cases = {
        "done": ({"disposition": "done", "label": "paid"}, "done"),
        "callback": ({"disposition": "callback", "at": later}, "pending"),
        "do_not_call": ({"disposition": "do_not_call"}, "suppressed"),
        "wrong_number": ({"disposition": "wrong_number"}, "invalid"),
        "retry": ({"disposition": "retry"}, "pending"),
    }
    phones = factories.us_numbers(2 * len(cases), start=7100)
    scripts: dict[str, list[dict[str, Any]]] = {}
    expected: dict[str, tuple[str, str, str | None]] = {}
    for (name, (body, state)), before, after in zip(
        cases.items(), phones[::2], phones[1::2], strict=True
    ):
        scripts[before] = [_bot(body, BEFORE_FINAL)]
        scripts[after] = [_bot(body, AFTER_FINAL)]
        waiting = {"callback": "callback", "retry": "retry"}.get(name)
        expected[before] = expected[after] = (state, name, waiting)
    stack.sim.configure(
        mix={"human": 1}, scripts={"by_number": scripts, "by_suffix": {}}, faults={}
    )
    cid = _campaign(api, phones)

    def settled() -> bool:
        contacts = [_contact(api, cid, p) for p in phones]
        return all(
            c["disposition"] == expected[p][1] and c["state"] != "in_flight"
            for p, c in zip(phones, contacts, strict=True)
        )

    wait_for(settled, 20, poll_s=0.3, what="every disposition to be applied")
    for phone in phones:
        contact = _contact(api, cid, phone)
        assert (contact["state"], contact["disposition"], contact["waiting_reason"]) == expected[
            phone
        ], (phone, contact)
        [attempt] = contact["attempt_list"]
        assert attempt["outcome"] == "machine"
        detail = api.get(f"/api/v1/campaigns/{cid}/attempts/{attempt['id']}").json()
        disposed, ended = (datetime.fromisoformat(detail[k]) for k in ("disposed_at", "ended_at"))
        disposed_first = disposed < ended
        assert disposed_first == (phone in phones[::2]), (phone, detail)  # the order played
    for phone in phones[:2]:  # done, before and after the final
        assert _contact(api, cid, phone)["closed_reason"] == "disposition done: paid (call machine)"
    # The callback (2 h from now) and the retry (1 h, the machine delay) are due when asked.
    callback = _contact(api, cid, phones[2])["next_due_at"]
    assert datetime.fromisoformat(callback) == datetime.fromisoformat(later).replace(
        tzinfo=NEW_YORK
    )
    posted = [d for call in stack.sim.calls() for d in call["dispositions"]]
    assert len(posted) == len(phones)
    assert all(d["delivered"] for d in posted)
    assert api.post(f"/api/v1/campaigns/{cid}/cancel").is_success


def test_a_callback_is_dialed_at_its_time_and_not_before(stack: Stack, api: httpx.Client) -> None:
    [phone] = factories.us_numbers(1, start=7200)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    body = {"disposition": "callback", "at": _local(due), "timezone": "America/New_York"}
    script = {phone: [_bot(body, BEFORE_FINAL, "human"), "human"]}
    stack.sim.configure(mix={"human": 1}, scripts={"by_number": script, "by_suffix": {}}, faults={})
    cid = _campaign(api, [phone])

    wait_for(lambda: len(stack.sim.calls()) == 2, 20, poll_s=0.2, what="the callback's call")
    first, second = sorted(stack.sim.calls(), key=lambda c: c["placed_at"])
    assert first["placed_at"] < due.timestamp() - 3  # the first call was well before
    assert due.timestamp() <= second["placed_at"] < due.timestamp() + 3
    contact = _contact(api, cid, phone)
    assert [a["disposition"] for a in contact["attempt_list"]] == ["callback", None]
    wait_for(lambda: _contact(api, cid, phone)["state"] == "done", 10, what="the callback's end")


def test_do_not_call_from_a_call_stops_the_number_in_another_running_campaign(
    stack: Stack, api: httpx.Client
) -> None:
    phone, other = factories.us_numbers(2, start=7300)
    # First call (campaign A): busy, A calls again in 3 s. Second (campaign B): "stop calling me".
    stop = _bot({"disposition": "do_not_call"}, BEFORE_FINAL, "human")
    script = {phone: ["busy", stop]}
    stack.sim.configure(mix={"human": 1}, scripts={"by_number": script, "by_suffix": {}}, faults={})
    first = _campaign(api, [phone, other])
    wait_for(lambda: _contact(api, first, phone)["last_outcome"] == "busy", 10, what="A's call")
    second = _campaign(api, [phone])

    wait_for(
        lambda: _contact(api, first, phone)["state"] == "suppressed",
        10,
        what="A to stop the number",
    )
    time.sleep(4)  # A's redial was due 3 s after its busy call
    assert [c["number"] for c in stack.sim.calls()].count(phone.removeprefix("+")) == 2
    assert _contact(api, second, phone)["state"] == "suppressed"
    assert _contact(api, second, phone)["disposition"] == "do_not_call"
    assert _contact(api, first, phone)["closed_reason"] == "on the do-not-call list"
    listed = api.get("/api/v1/dnc", params={"limit": 500}).json()["items"]
    assert phone in [entry["phone"] for entry in listed]
    for cid in (first, second):
        api.post(f"/api/v1/campaigns/{cid}/cancel")
