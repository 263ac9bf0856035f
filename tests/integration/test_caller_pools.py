"""Caller-ID pools on the real dial path: PostgreSQL, Redis and the simulator, which records the
`caller` of every dial-out it received."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.services import claims, dialing
from campaign.services.dialing import DialDeps, DialResult
from campaign.settings import Settings
from campaign.simulator.control import SimControl
from schedules.dispatcher import tick
from tests import factories
from tests.support.runtime import RecordingRuntime, dial_deps

KENTUCKY = "+12706165788"
MANHATTAN = "+12125550100"
CHICAGO = "+13125550100"
WINDOW = {"timezone": "America/Chicago", "hours": {"mon-sun": "00:00-24:00"}}
ZONE = ZoneInfo("America/Chicago")  # the campaign's day: its window's zone


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime(
        settings.model_copy(update={"queue_prefix": f"c{secrets.token_hex(4)}"}), pool_size=4
    )
    rt.limiter.restore([], [], 0)
    yield rt
    with transaction(rt.sessions) as session:
        session.execute(delete(CampaignRow))
    rt.close()


@pytest.fixture
def deps(runtime: RecordingRuntime, sim: SimControl) -> Iterator[DialDeps]:
    with dial_deps(runtime, sim.base_url, utcnow) as built:
        yield built


def _queue(runtime: RecordingRuntime, phones: list[str], gateway: dict[str, Any]) -> list[int]:
    """A running campaign calling `phones` with `gateway`; its attempts, in contact order."""
    doc = factories.spec(gateway=gateway, window=WINDOW)
    with transaction(runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, doc)
        factories.add_contacts(session, campaign_id, phones)
    tick(runtime, datetime.now(UTC))
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(AttemptRow.id)
                .where(AttemptRow.campaign_id == campaign_id)
                .order_by(AttemptRow.contact_id)
            )
        )


def _dial(deps: DialDeps, attempt_id: int) -> DialResult:
    claim = claims.take(deps.sessions, attempt_id, None, utcnow())
    assert claim is not None
    return dialing.dial(deps, claim)


def _callers(runtime: RecordingRuntime, attempt_ids: list[int]) -> list[str | None]:
    with runtime.sessions() as session:
        rows = dict(
            session.execute(
                select(AttemptRow.id, AttemptRow.caller).where(AttemptRow.id.in_(attempt_ids))
            ).all()
        )
    return [rows[a] for a in attempt_ids]


def _received(sim: SimControl) -> dict[str, str]:
    """Target number → the caller the simulator received for it."""
    return {"+" + c["target"].removeprefix("tel:"): c["caller"] for c in sim.calls()}


def test_round_robin_shows_each_caller_in_turn_and_records_it(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl
) -> None:
    phones = factories.us_numbers(6, start=secrets.randbelow(10**6))
    attempts = _queue(runtime, phones, {"caller": [KENTUCKY, MANHATTAN, CHICAGO]})

    assert [_dial(deps, a) for a in attempts] == [DialResult.sent] * 6

    recorded = _callers(runtime, attempts)
    assert set(recorded) == {KENTUCKY, MANHATTAN, CHICAGO}
    assert recorded[:3] == recorded[3:]  # the same rotation again
    received = _received(sim)
    assert [received[p] for p in phones] == recorded


def test_local_presence_dials_with_the_callers_of_the_contacts_area_code(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl
) -> None:
    phones = ["+12125550187", "+13125550187", "+12705550187", "+14155550187"]
    gateway = {"caller": [KENTUCKY, MANHATTAN, CHICAGO], "caller_strategy": "local_presence"}
    attempts = _queue(runtime, phones, gateway)

    for attempt_id in attempts:
        assert _dial(deps, attempt_id) is DialResult.sent

    received = _received(sim)
    assert [received[p] for p in phones[:3]] == [MANHATTAN, CHICAGO, KENTUCKY]
    assert received[phones[3]] in (KENTUCKY, MANHATTAN, CHICAGO)  # San Francisco: round robin
    assert _callers(runtime, attempts)[:3] == [MANHATTAN, CHICAGO, KENTUCKY]


def test_callers_over_their_daily_cap_are_skipped_then_the_contact_waits_for_tomorrow(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl
) -> None:
    phones = factories.us_numbers(3, start=secrets.randbelow(10**6))
    gateway = {"caller": [KENTUCKY, MANHATTAN], "max_calls_per_day": 1}
    attempts = _queue(runtime, phones, gateway)

    results = [_dial(deps, a) for a in attempts]

    assert results == [DialResult.sent, DialResult.sent, DialResult.released]
    assert set(_callers(runtime, attempts[:2])) == {KENTUCKY, MANHATTAN}
    assert len(sim.calls()) == 2
    with runtime.sessions() as session:
        attempt = session.get_one(AttemptRow, attempts[2])
        contact = session.get_one(ContactRow, attempt.contact_id)
    assert (attempt.state, attempt.caller, attempt.decision) == (
        "released",
        None,
        "not dialed: caller cap",
    )
    assert (contact.state, contact.waiting_reason, contact.attempts) == ("pending", "caller cap", 0)
    tomorrow = datetime.now(UTC).astimezone(ZONE).date()
    assert contact.next_due_at is not None
    due = contact.next_due_at.astimezone(ZONE)
    assert (due.date() - tomorrow).days == 1
    assert (due.hour, due.minute) == (0, 0)


def test_caps_hold_after_redis_lost_the_counts_rebuilt_from_the_attempts(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl
) -> None:
    phones = factories.us_numbers(3, start=secrets.randbelow(10**6))
    gateway = {"caller": [KENTUCKY, MANHATTAN], "max_calls_per_day": 1}
    attempts = _queue(runtime, phones, gateway)
    assert _dial(deps, attempts[0]) is DialResult.sent
    [first] = _callers(runtime, attempts[:1])

    prefix = runtime.settings.queue_prefix
    for key in runtime.redis.scan_iter(f"{prefix}:callers:*"):
        runtime.redis.delete(key)  # a wiped Redis: no counts, no turn

    assert _dial(deps, attempts[1]) is DialResult.sent
    assert _callers(runtime, attempts[1:2]) == [MANHATTAN if first == KENTUCKY else KENTUCKY]
    assert _dial(deps, attempts[2]) is DialResult.released  # both made their one call today
