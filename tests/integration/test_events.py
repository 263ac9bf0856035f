"""The events outbox on real PostgreSQL and Redis, delivered to a real local HTTP receiver."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select, update

from campaign.breaker import Breaker, BreakerState
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, EventRow
from campaign.domain import event_delivery as rules
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.states import AttemptEvent
from campaign.services import event_reads, lifecycle
from campaign.services.dial_records import breaker_changed
from campaign.services.event_delivery import TIMEOUT, Target, deliver_due
from campaign.services.redial import close_attempt
from campaign.services.specs import load_spec
from campaign.settings import Settings
from schedules.dispatcher import tick
from schedules.sweeper import sweep
from tests import factories
from tests.integration.test_consumer_and_sweeper import HUMAN, _notify
from tests.support.events_receiver import EventsReceiver
from tests.support.http_server import HttpServer
from tests.support.runtime import RecordingRuntime

SECRET = secrets.token_urlsafe(32)


@pytest.fixture
def receiver() -> Iterator[tuple[EventsReceiver, str]]:
    crm = EventsReceiver(SECRET)
    with HttpServer(crm.respond) as server:
        yield crm, f"{server.url}/hook"


def _runtime(settings: Settings, **overrides: object) -> RecordingRuntime:
    update_ = {"queue_prefix": f"e{secrets.token_hex(4)}", **overrides}
    rt = RecordingRuntime(settings.model_copy(update=update_))
    rt.limiter.restore([], [], 0)
    return rt


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = _runtime(settings)
    yield rt
    with transaction(rt.sessions) as session:
        session.execute(delete(CampaignRow))
    rt.close()


def _campaign(rt: RecordingRuntime, url: str, contacts: int = 1, **events: Any) -> int:
    with transaction(rt.sessions) as session:
        doc = factories.spec(events={"url": url, "secret": SECRET, **events})
        campaign_id = factories.make_campaign(session, doc)
        start = secrets.randbelow(10**6)
        factories.add_contacts(session, campaign_id, factories.us_numbers(contacts, start))
    return campaign_id


def _dialed(rt: RecordingRuntime, campaign_id: int) -> list[int]:
    """Dispatch the campaign's due contacts and mark their attempts sent, as the dial path would.
    The tick dispatches every running campaign of the session's database: an earlier test file's
    campaign left running must not count here."""
    rt.dials.clear()
    tick(rt, datetime.now(UTC))
    ours = []
    with transaction(rt.sessions) as session:
        for attempt_id in rt.dials:
            attempt = session.get_one(AttemptRow, attempt_id)
            if attempt.campaign_id != campaign_id:
                continue
            ours.append(attempt_id)
            attempt.state, attempt.sending_at = "accepted", datetime.now(UTC)
            attempt.deadline_at = attempt.silent_deadline_at = datetime.now(UTC) + timedelta(
                hours=1
            )
    return ours


def _outbox(rt: RecordingRuntime, campaign_id: int) -> list[EventRow]:
    with rt.sessions() as session:
        query = select(EventRow).where(EventRow.campaign_id == campaign_id).order_by(EventRow.id)
        return list(session.scalars(query))


def _deliver(rt: RecordingRuntime, at: datetime | None = None, target: Target | None = None) -> Any:
    with httpx.Client(timeout=TIMEOUT) as client:
        return deliver_due(
            rt.sessions,
            client=client,
            global_target=target,
            now=lambda: at or datetime.now(UTC),
            rng=random.Random(3),
            limit=100,
        )


def test_an_ending_writes_attempt_ended_then_contact_closed_with_its_facts(
    runtime: RecordingRuntime,
) -> None:
    campaign_id = _campaign(runtime, "http://127.0.0.1:9/none")
    [attempt_id] = _dialed(runtime, campaign_id)

    _notify(runtime, attempt_id, HUMAN)

    ended, closed = _outbox(runtime, campaign_id)
    assert (ended.type, closed.type) == ("attempt.ended", "contact.closed")
    assert ended.contact_id == closed.contact_id is not None
    assert {
        k: ended.data[k] for k in ("outcome", "sip_code", "amd", "duration_s", "disposition")
    } == {
        "outcome": "human",
        "sip_code": 200,
        "amd": "amd_human_detected",
        "duration_s": 14,
        "disposition": None,
    }
    assert ended.data["attempt"]["id"] == attempt_id
    assert (closed.data["state"], closed.data["last_outcome"]) == ("done", "human")
    assert closed.data["reason"]


def test_a_rolled_back_ending_writes_no_event(runtime: RecordingRuntime) -> None:
    campaign_id = _campaign(runtime, "http://127.0.0.1:9/none")
    [attempt_id] = _dialed(runtime, campaign_id)

    def fail_after_the_ending() -> None:
        with transaction(runtime.sessions) as session:
            attempt = session.get_one(AttemptRow, attempt_id, with_for_update=True)
            spec = load_spec(session.get_one(CampaignRow, campaign_id).spec)
            close_attempt(
                session,
                attempt,
                event=AttemptEvent.EXPIRE,
                outcome=OutcomeClass.LOST,
                spec=spec,
                now=datetime.now(UTC),
                rng=random.Random(1),
                leases=runtime.leases,
            )
            session.flush()
            written = select(EventRow.id).where(EventRow.campaign_id == campaign_id)
            assert len(session.scalars(written).all()) == 1
            raise RuntimeError("the change fails after its event was written")

    with pytest.raises(RuntimeError, match="after its event"):
        fail_after_the_ending()

    assert _outbox(runtime, campaign_id) == []


def test_only_the_chosen_types_are_written(runtime: RecordingRuntime) -> None:
    campaign_id = _campaign(runtime, "http://127.0.0.1:9/none", types=["contact.closed"])
    [attempt_id] = _dialed(runtime, campaign_id)

    _notify(runtime, attempt_id, HUMAN)

    assert [e.type for e in _outbox(runtime, campaign_id)] == ["contact.closed"]


def test_lifecycle_changes_write_campaign_state_and_cancel_closes_every_open_contact(
    runtime: RecordingRuntime,
) -> None:
    campaign_id = _campaign(runtime, "http://127.0.0.1:9/none", contacts=3)
    with transaction(runtime.sessions) as session:
        lifecycle.pause(session, campaign_id)
        lifecycle.pause(session, campaign_id)  # a repeat changes nothing: no event
        lifecycle.resume(session, campaign_id)
        lifecycle.cancel(session, campaign_id, now=datetime.now(UTC))

    events = _outbox(runtime, campaign_id)
    changes = [(e.data["change"], e.data["reason"]) for e in events if e.type == "campaign.state"]
    assert changes == [("paused", "paused by operator"), ("resumed", None), ("cancelled", None)]
    closed = [e.data for e in events if e.type == "contact.closed"]
    assert len(closed) == 3
    assert {(c["state"], c["reason"]) for c in closed} == {("cancelled", "campaign cancelled")}


def test_with_events_url_set_each_event_goes_to_both_destinations_under_one_id(
    settings: Settings,
) -> None:
    rt = _runtime(settings, events_url="http://127.0.0.1:9/global", events_secret=SecretStr(SECRET))
    try:
        campaign_id = _campaign(rt, "http://127.0.0.1:9/none", types=["campaign.state"])
        with transaction(rt.sessions) as session:
            lifecycle.pause(session, campaign_id)
        rows = _outbox(rt, campaign_id)
        assert sorted(r.destination for r in rows) == ["campaign", "global"]
        assert len({r.event_id for r in rows}) == 1
    finally:
        with transaction(rt.sessions) as session:
            session.execute(delete(CampaignRow))
        rt.close()


def test_delivery_signs_each_event_and_keeps_each_contacts_order(
    runtime: RecordingRuntime, receiver: tuple[EventsReceiver, str]
) -> None:
    crm, url = receiver
    campaign_id = _campaign(runtime, url)
    [attempt_id] = _dialed(runtime, campaign_id)
    _notify(runtime, attempt_id, HUMAN)

    first = _deliver(runtime)  # only the contact's first event may go in one pass
    second = _deliver(runtime)

    assert (first.delivered, second.delivered) == (1, 1)
    assert crm.bad_signatures == 0
    assert [e["type"] for e in crm.events()] == ["attempt.ended", "contact.closed"]
    assert {r.state for r in _outbox(runtime, campaign_id)} == {"delivered"}


def test_a_failing_event_holds_its_contacts_later_events_and_retries_with_backoff(
    runtime: RecordingRuntime, receiver: tuple[EventsReceiver, str]
) -> None:
    crm, url = receiver
    campaign_id = _campaign(runtime, url)
    [attempt_id] = _dialed(runtime, campaign_id)
    _notify(runtime, attempt_id, HUMAN)
    crm.down = True
    t0 = datetime.now(UTC)

    result = _deliver(runtime, t0)
    assert (result.claimed, result.failed) == (1, 1)
    assert _deliver(runtime, t0 + timedelta(seconds=1)).claimed == 0  # the later one waits

    ended, _ = _outbox(runtime, campaign_id)
    assert (ended.state, ended.tries, ended.failing_since) == ("pending", 1, t0)
    assert timedelta(seconds=1.6) <= ended.next_at - t0 <= timedelta(seconds=2.4)
    with runtime.sessions() as session:
        outbox = event_reads.outbox(session, campaign_id)
    assert (outbox["pending"], outbox["failing"]) == (2, 1)

    crm.down = False
    later = t0 + timedelta(seconds=3)
    assert _deliver(runtime, later).delivered == 1
    assert _deliver(runtime, later).delivered == 1
    assert [e["type"] for e in crm.events()] == ["attempt.ended", "contact.closed"]


def test_an_event_failing_for_24_hours_is_dead_and_replay_sends_it_again(
    runtime: RecordingRuntime, receiver: tuple[EventsReceiver, str]
) -> None:
    crm, url = receiver
    campaign_id = _campaign(runtime, url, types=["campaign.state"])
    with transaction(runtime.sessions) as session:
        lifecycle.pause(session, campaign_id)
    crm.down = True
    t0 = datetime.now(UTC)
    _deliver(runtime, t0)

    assert _deliver(runtime, t0 + rules.DEAD_AFTER).dead == 1
    [row] = _outbox(runtime, campaign_id)
    assert (row.state, row.last_error) == ("dead", "HTTP 503")

    crm.down = False
    with transaction(runtime.sessions) as session:
        assert event_reads.replay(session, campaign_id, since=None).replayed == 1
    assert _deliver(runtime).delivered == 1
    assert [e["id"] for e in crm.events()] == [row.event_id]


def test_the_sweeper_wakes_a_deliverer_only_while_events_are_due(
    runtime: RecordingRuntime,
) -> None:
    campaign_id = _campaign(runtime, "http://127.0.0.1:9/none", types=["campaign.state"])
    sweep(runtime, datetime.now(UTC), random.Random(1))
    assert runtime.event_wakes == 0

    with transaction(runtime.sessions) as session:
        lifecycle.pause(session, campaign_id)
    sweep(runtime, datetime.now(UTC), random.Random(1))
    assert runtime.event_wakes == 1

    with transaction(runtime.sessions) as session:
        session.execute(update(EventRow).values(next_at=datetime.now(UTC) + timedelta(hours=1)))
    sweep(runtime, datetime.now(UTC), random.Random(1))
    assert runtime.event_wakes == 1


def test_the_dial_that_opens_or_closes_a_breaker_reports_it_once_for_each_campaign_on_it(
    runtime: RecordingRuntime,
) -> None:
    campaign_id = _campaign(runtime, "http://127.0.0.1:9/none", types=["campaign.state"])
    breaker = runtime.breaker
    gateway = f"http://gw-{secrets.token_hex(3)}#default"
    threshold = runtime.settings.gateway_breaker_failures
    readings = [breaker.failure(gateway, str(n)) for n in range(threshold + 1)]
    assert [r.just_opened for r in readings] == [False] * (threshold - 1) + [True, False]

    with transaction(runtime.sessions) as session:
        breaker_changed(session, None, readings[threshold - 1])
    assert breaker.success(gateway, campaign_id) is True
    assert breaker.success(gateway, campaign_id) is False
    with transaction(runtime.sessions) as session:
        breaker_changed(session, None, Breaker(gateway, BreakerState.CLOSED))

    changes = [e.data for e in _outbox(runtime, campaign_id)]
    assert [(c["change"], c["gateway"]) for c in changes] == [
        ("breaker_opened", gateway),
        ("breaker_closed", gateway),
    ]
    assert changes[0]["reason"].startswith("gateway unavailable since")


def test_a_failing_destination_is_tried_once_per_pass_not_once_per_event(
    runtime: RecordingRuntime, receiver: tuple[EventsReceiver, str]
) -> None:
    crm, url = receiver
    campaign_id = _campaign(runtime, url, contacts=3, types=["contact.closed"])
    with transaction(runtime.sessions) as session:
        lifecycle.cancel(session, campaign_id, now=datetime.now(UTC))
    crm.down = True

    result = _deliver(runtime)

    assert (result.claimed, result.failed, crm.refused) == (3, 3, 1)
    assert {r.last_error for r in _outbox(runtime, campaign_id)} == {"HTTP 503"}


def test_a_campaigns_own_events_keep_their_order_when_the_first_one_fails(
    runtime: RecordingRuntime, receiver: tuple[EventsReceiver, str]
) -> None:
    crm, url = receiver
    campaign_id = _campaign(runtime, url, types=["campaign.state"])
    with transaction(runtime.sessions) as session:
        lifecycle.pause(session, campaign_id)
    crm.down = True
    t0 = datetime.now(UTC)
    _deliver(runtime, t0)
    with transaction(runtime.sessions) as session:
        lifecycle.resume(session, campaign_id)
    crm.down = False

    assert _deliver(runtime, t0 + timedelta(seconds=1)).claimed == 0  # `resumed` waits
    _deliver(runtime, t0 + timedelta(seconds=3))
    _deliver(runtime, t0 + timedelta(seconds=3))
    assert [e["data"]["change"] for e in crm.events()] == ["paused", "resumed"]
