"""The account rules on the real dispatcher and dial path (PostgreSQL, Redis, a simulator
process as witness) under a driven clock: holidays hold and release, per-number caps hold across
campaigns, a hold never consumes an attempt, trunk limits come from the policy."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.errors import PacingExhausted
from campaign.limits import PacingWait
from campaign.services import account, claims, dialing, reporting, uploads
from campaign.services.dialing import DialDeps, DialResult
from campaign.settings import Settings
from campaign.simulator.control import SimControl
from schedules.dispatcher import tick
from tests import factories
from tests.support.runtime import RecordingRuntime, dial_deps

GB = [f"+44207946{n:04d}" for n in range(11, 15)]  # London landlines
US = ["+12015550142"]
CHRISTMAS_EVE = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
AFTER_BOXING_DAY = datetime(2026, 12, 27, 9, 0, tzinfo=UTC)


class Clock:
    """The dial path's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime(
        settings.model_copy(update={"queue_prefix": f"a{secrets.token_hex(4)}"}), pool_size=4
    )
    rt.limiter.restore([], [], 0)
    yield rt
    with transaction(rt.sessions) as session:
        session.execute(delete(CampaignRow))
        account.apply(session, {})
    rt.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(CHRISTMAS_EVE)


@pytest.fixture
def deps(runtime: RecordingRuntime, sim: SimControl, clock: Clock) -> Iterator[DialDeps]:
    with dial_deps(runtime, sim.base_url, clock) as built:
        yield built


def _policy(runtime: RecordingRuntime, document: dict[str, Any]) -> None:
    with transaction(runtime.sessions) as session:
        account.apply(session, document)


def _campaign(runtime: RecordingRuntime, csv_text: str, **spec: Any) -> int:
    with transaction(runtime.sessions) as session:
        cid = factories.make_campaign(session, factories.spec(**spec))
        stream = io.BytesIO(csv_text.encode())
        uploads.import_contacts(session, cid, stream, now=CHRISTMAS_EVE - timedelta(days=1))
    return cid


def _contacts(runtime: RecordingRuntime, cid: int) -> dict[str, ContactRow]:
    with runtime.sessions() as session:
        rows = session.scalars(select(ContactRow).where(ContactRow.campaign_id == cid))
        return {row.phone: row for row in rows}


def _dial_all(deps: DialDeps, runtime: RecordingRuntime) -> list[DialResult]:
    results = []
    for attempt_id in runtime.dials:
        claim = claims.take(deps.sessions, attempt_id, None, deps.clock())
        assert claim is not None
        results.append(dialing.dial(deps, claim))
    runtime.dials.clear()
    return results


def test_a_holiday_holds_its_countrys_contacts_and_releases_them_the_day_after(
    runtime: RecordingRuntime, deps: DialDeps, sim: SimControl, clock: Clock
) -> None:
    _policy(runtime, {"compliance": {"holidays": ["GB"]}})
    cid = _campaign(runtime, "phone\n" + "\n".join(GB + US) + "\n")
    # Dispatched on Christmas Eve, dialed on Christmas Day: the dial path holds them, no call.
    tick(runtime, CHRISTMAS_EVE)
    assert len(runtime.dials) == len(GB + US)
    clock.now = CHRISTMAS
    results = _dial_all(deps, runtime)
    assert results.count(DialResult.released) == len(GB)
    assert ["+" + call["number"] for call in sim.calls()] == US  # the US is not on the list
    held = _contacts(runtime, cid)
    for phone in GB:
        contact = held[phone]
        assert (contact.state, contact.attempts) == ("pending", 0)  # no attempt consumed
        assert contact.waiting_reason == "holiday: Christmas Day (GB)"
        # Boxing Day (Saturday 26th) too: due again at midnight in London on the 27th.
        assert contact.next_due_at == datetime(2026, 12, 27, 0, 0, tzinfo=UTC)
    assert held[US[0]].region == "US-NJ"  # its area code's state (201)
    with runtime.sessions() as session:
        status = reporting.campaign_status(session, cid, CHRISTMAS, None)
    assert status.waiting == {"holiday: Christmas Day (GB)": len(GB)}

    # The dispatcher holds them itself while the holidays last: nothing is claimed.
    tick(runtime, datetime(2026, 12, 26, 23, 59, tzinfo=UTC))
    assert runtime.dials == []

    tick(runtime, AFTER_BOXING_DAY)
    clock.now = AFTER_BOXING_DAY
    assert _dial_all(deps, runtime) == [DialResult.sent] * len(GB)
    placed = sorted("+" + call["number"] for call in sim.calls())
    assert placed == sorted(GB + US)  # each number called exactly once, after the holidays
    assert {c.attempts for c in _contacts(runtime, cid).values()} == {1}


def test_per_number_caps_hold_a_number_called_by_another_campaign(
    runtime: RecordingRuntime, deps: DialDeps, sim: SimControl, clock: Clock
) -> None:
    numbers = factories.us_numbers(4, start=secrets.randbelow(10**6))
    csv_text = "phone\n" + "\n".join(numbers) + "\n"
    first, second = _campaign(runtime, csv_text), _campaign(runtime, csv_text)
    # Both campaigns have queued attempts for every number before the policy is applied: the
    # dial path alone must hold the second call to each number.
    tick(runtime, CHRISTMAS_EVE)
    assert len(runtime.dials) == 2 * len(numbers)
    _policy(runtime, {"compliance": {"per_number": {"per_day": 1}}})
    results = _dial_all(deps, runtime)
    assert sorted(results) == sorted([DialResult.sent] * 4 + [DialResult.released] * 4)
    calls = ["+" + call["number"] for call in sim.calls()]
    assert sorted(calls) == sorted(numbers)

    # Later the same day the dispatcher holds them too, with the cap as the reason.
    tick(runtime, CHRISTMAS_EVE + timedelta(hours=1))
    assert runtime.dials == []
    waiting = [
        c.waiting_reason
        for cid in (first, second)
        for c in _contacts(runtime, cid).values()
        if c.state == "pending"
    ]
    assert waiting == ["account cap: 1 call today to this number"] * 4
    held = [c for cid in (first, second) for c in _contacts(runtime, cid).values()]
    assert sorted(c.attempts for c in held) == [0] * 4 + [1] * 4
    # The first calls end (no receiver here: their finals are written directly), and the next
    # local day (New York) the held contacts are called.
    with transaction(runtime.sessions) as session:
        session.execute(
            update(AttemptRow)
            .where(AttemptRow.state == "accepted")
            .values(state="completed", ended_at=CHRISTMAS_EVE + timedelta(minutes=2))
        )
    next_day = datetime(2026, 12, 25, 14, 0, tzinfo=UTC)
    tick(runtime, next_day)
    assert len(runtime.dials) == 4


def test_a_cap_applied_after_uncapped_claims_holds_the_very_next_claim(
    runtime: RecordingRuntime, deps: DialDeps, sim: SimControl
) -> None:
    """The claim reads a number's calls only while the last policy it met capped them; the first
    claim to meet a newly applied cap must read them all the same."""
    numbers = factories.us_numbers(2, start=secrets.randbelow(10**6))
    csv_text = "phone\n" + "\n".join(numbers) + "\n"
    first, second = _campaign(runtime, csv_text), _campaign(runtime, csv_text)
    tick(runtime, CHRISTMAS_EVE)
    with runtime.sessions() as session:
        rows = session.execute(
            select(AttemptRow.id, AttemptRow.campaign_id).where(AttemptRow.id.in_(runtime.dials))
        ).all()
    by_campaign = {attempt_id: campaign_id for attempt_id, campaign_id in rows}
    runtime.dials = [a for a, c in by_campaign.items() if c == first]
    assert _dial_all(deps, runtime) == [DialResult.sent] * 2  # no policy: nothing capped

    _policy(runtime, {"compliance": {"per_number": {"per_day": 1}}})
    runtime.dials = [a for a, c in by_campaign.items() if c == second]
    assert _dial_all(deps, runtime) == [DialResult.released] * 2
    assert sorted("+" + call["number"] for call in sim.calls()) == sorted(numbers)


def test_the_dispatcher_never_queues_a_number_already_on_a_call_elsewhere(
    runtime: RecordingRuntime,
) -> None:
    _policy(runtime, {"compliance": {"per_number": {"per_week": 7}}})
    numbers = factories.us_numbers(3, start=secrets.randbelow(10**6))
    csv_text = "phone\n" + "\n".join(numbers) + "\n"
    campaigns = [_campaign(runtime, csv_text), _campaign(runtime, csv_text)]
    tick(runtime, CHRISTMAS_EVE)
    assert len(runtime.dials) == len(numbers)  # one attempt per number, whichever campaign
    with runtime.sessions() as session:
        phones = session.scalars(select(AttemptRow.phone)).all()
    assert sorted(phones) == sorted(numbers)
    waiting = {c.waiting_reason for cid in campaigns for c in _contacts(runtime, cid).values()} - {
        None
    }
    assert waiting == {"account cap: a call to this number is in progress"}


def test_trunk_limits_come_from_the_policy_in_force(
    runtime: RecordingRuntime, deps: DialDeps, clock: Clock
) -> None:
    numbers = factories.us_numbers(2, start=secrets.randbelow(10**6))
    _campaign(runtime, "phone\n" + "\n".join(numbers) + "\n", gateway={"trunk": "carrier-z"})
    tick(runtime, CHRISTMAS_EVE)
    _policy(runtime, {"trunks": {"carrier-z": {"max_live_calls": 1}}})
    first, second = runtime.dials
    claim = claims.take(deps.sessions, first, None, clock())
    assert claim is not None
    assert dialing.dial(deps, claim) is DialResult.sent  # its lease stays: no final yet
    claim = claims.take(deps.sessions, second, None, clock())
    assert claim is not None
    with pytest.raises(PacingExhausted) as caught:
        dialing.dial(deps, claim)
    assert caught.value.reason == PacingWait.LIVE_CAP
    assert "live:trunk:carrier-z" in caught.value.detail
