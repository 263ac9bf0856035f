"""Events to a CRM with real processes: a receiver in the test (a real HTTP server) verifies each
signature, sees every event once by id, in order per contact, and survives being down while a
campaign dials: the dialing does not slow down, and the events arrive once it is back."""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from campaign.db.engine import transaction
from tests import factories
from tests.e2e.conftest import Stack
from tests.e2e.test_closed_loop import _wait_completed
from tests.support.events_receiver import EventsReceiver
from tests.support.http_server import HttpServer
from tests.support.procs import wait_for

pytestmark = pytest.mark.e2e

SECRET = secrets.token_urlsafe(32)
OPERATOR = {"Authorization": "Bearer op-key"}
CONTACTS = 20


@pytest.fixture
def crm() -> Iterator[tuple[EventsReceiver, str]]:
    receiver = EventsReceiver(SECRET)
    with HttpServer(receiver.respond) as server:
        yield receiver, f"{server.url}/hook"


def _run(stack: Stack, url: str, start: int) -> tuple[int, float]:
    """A campaign of CONTACTS contacts (every third busy once) started over the API; returns its
    id and the seconds it took to complete."""
    phones = factories.us_numbers(CONTACTS, start=start)
    stack.sim.reset()
    stack.sim.configure(
        mix={"human": 1},
        scripts={"by_number": {p: ["busy"] for p in phones[::3]}, "by_suffix": {}},
        faults={},
    )
    pacing = {"cps": 20, "max_live_calls": 10, "max_call_duration": "2s"}
    events = {"url": url, "secret": SECRET}
    with transaction(stack.runtime.sessions) as session:
        doc = factories.spec(pacing=pacing, events=events)
        campaign_id = factories.make_campaign(session, doc, state="draft")
        factories.add_contacts(session, campaign_id, phones)
    began = time.monotonic()
    started = httpx.post(
        f"{stack.api_url}/api/v1/campaigns/{campaign_id}/start", headers=OPERATOR, timeout=10
    )
    assert started.status_code == 200, started.text
    _wait_completed(stack, campaign_id, timeout_s=45)
    return campaign_id, time.monotonic() - began


def _delivered(stack: Stack, campaign_id: int) -> dict[str, Any]:
    reply = httpx.get(
        f"{stack.api_url}/api/v1/campaigns/{campaign_id}/status", headers=OPERATOR, timeout=10
    )
    events: dict[str, Any] = reply.json()["events"]
    return events


def _campaign_of(event: dict[str, Any]) -> int:
    data = event["data"]
    return int(data["campaign"]["id"] if event["type"] == "campaign.state" else data["campaign_id"])


def _check(receiver: EventsReceiver, campaign_id: int) -> None:
    events = [e for e in receiver.events() if _campaign_of(e) == campaign_id]
    by_contact: dict[int, list[str]] = defaultdict(list)
    for event in events:
        if event["type"] != "campaign.state":
            by_contact[event["data"]["contact"]["id"]].append(event["type"])
    assert len(by_contact) == CONTACTS
    for types in by_contact.values():
        # Every attempt's ending, then the contact's closing, last: the order of the changes.
        assert types[-1] == "contact.closed"
        assert set(types[:-1]) == {"attempt.ended"}
    changes = [e["data"]["change"] for e in events if e["type"] == "campaign.state"]
    assert changes == ["started", "completed"]


def test_every_event_arrives_once_in_order_and_a_crm_outage_never_slows_dialing(
    stack: Stack, crm: tuple[EventsReceiver, str]
) -> None:
    receiver, url = crm
    up_id, up_s = _run(stack, url, start=9700)
    wait_for(lambda: _delivered(stack, up_id)["pending"] == 0, 20, what="events delivered")

    receiver.down = True
    down_id, down_s = _run(stack, url, start=9800)
    assert _delivered(stack, down_id)["failing"] > 0
    receiver.down = False
    wait_for(lambda: _delivered(stack, down_id)["pending"] == 0, 40, what="late delivery")

    assert receiver.bad_signatures == 0
    assert receiver.refused > 0
    assert down_s < up_s * 1.5 + 2, (up_s, down_s)  # dialing did not wait for the CRM
    _check(receiver, up_id)
    _check(receiver, down_id)
    assert len(receiver.bodies) >= len(receiver.events())  # duplicates allowed, never missing
    assert _delivered(stack, down_id)["dead"] == 0
