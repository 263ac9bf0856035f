"""The dispatcher's claim against real PostgreSQL: windows, DNC, caps, and concurrent replicas."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update

from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, DncRow
from campaign.services import account
from campaign.settings import Settings
from schedules.dispatcher import tick
from tests import factories
from tests.support.runtime import RecordingRuntime

NY = ZoneInfo("America/New_York")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime(settings, pool_size=8)
    yield rt
    with transaction(rt.sessions) as session:  # campaigns of one test never leak into the next
        session.execute(delete(CampaignRow))
        session.execute(delete(DncRow))
    rt.close()


def _campaign(rt: RecordingRuntime, phones: list[str], due: datetime, **spec: object) -> int:
    with transaction(rt.sessions) as session:
        campaign_id = factories.make_campaign(session, factories.spec(**spec))
        factories.add_contacts(session, campaign_id, phones, due=due)
    return campaign_id


def _contacts(rt: RecordingRuntime, campaign_id: int) -> list[ContactRow]:
    with rt.sessions() as session:
        return list(
            session.scalars(select(ContactRow).where(ContactRow.campaign_id == campaign_id))
        )


def test_contacts_outside_their_window_wait_for_it_to_open(runtime: RecordingRuntime) -> None:
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=NY)
    window = {"timezone": "contact", "hours": {"mon-fri": "09:00-17:00"}}
    campaign_id = _campaign(runtime, factories.us_numbers(3), saturday_noon, window=window)

    tick(runtime, saturday_noon.astimezone(UTC))

    assert runtime.dials == []
    monday_nine = datetime(2026, 11, 30, 9, 0, tzinfo=NY)
    for contact in _contacts(runtime, campaign_id):
        assert contact.state == "pending"
        assert contact.next_due_at == monday_nine
        assert contact.waiting_reason == "window"

    tick(runtime, (monday_nine - timedelta(minutes=1)).astimezone(UTC))
    assert runtime.dials == []  # not rescanned before the window opens
    tick(runtime, monday_nine.astimezone(UTC))
    assert len(runtime.dials) == 3


def test_no_call_starts_a_ring_timeout_before_the_window_closes(runtime: RecordingRuntime) -> None:
    window = {"timezone": "America/New_York", "hours": {"mon-fri": "09:00-17:00"}}
    closing = datetime(2026, 11, 30, 16, 59, 58, tzinfo=NY)  # 2 s left, ring timeout is 3 s
    campaign_id = _campaign(runtime, factories.us_numbers(1), closing, window=window)

    tick(runtime, closing.astimezone(UTC))

    assert runtime.dials == []
    [contact] = _contacts(runtime, campaign_id)
    assert contact.next_due_at == datetime(2026, 12, 1, 9, 0, tzinfo=NY)


def test_numbers_on_the_do_not_call_list_are_suppressed_at_dispatch(
    runtime: RecordingRuntime,
) -> None:
    now = datetime.now(UTC)
    phones = factories.us_numbers(2, start=100)
    campaign_id = _campaign(runtime, phones, now)
    with transaction(runtime.sessions) as session:
        session.add(DncRow(phone=phones[0]))

    tick(runtime, now)

    states = {c.phone: c.state for c in _contacts(runtime, campaign_id)}
    assert states == {phones[0]: "suppressed", phones[1]: "in_flight"}
    assert len(runtime.dials) == 1


def test_claims_are_sized_by_pacing_and_the_live_call_cap(runtime: RecordingRuntime) -> None:
    now = datetime.now(UTC)
    _campaign(
        runtime,
        factories.us_numbers(100, start=200),
        now,
        pacing={"cps": 2, "max_live_calls": 50, "max_call_duration": "2s"},
    )

    tick(runtime, now, horizon_s=2.0)
    assert len(runtime.dials) == 4  # 2 cps × 2 s of work ahead
    tick(runtime, now, horizon_s=2.0)
    assert len(runtime.dials) == 4  # still queued: nothing more to hand out


def test_concurrent_dispatchers_never_claim_one_contact_twice(runtime: RecordingRuntime) -> None:
    now = datetime.now(UTC)
    campaign_id = _campaign(
        runtime,
        factories.us_numbers(400, start=1000),
        now,
        pacing={"cps": 1000, "max_live_calls": 1000, "max_call_duration": "2s"},
    )
    barrier = threading.Barrier(4)

    def replica() -> None:
        barrier.wait()
        for _ in range(5):
            tick(runtime, now, batch=50, horizon_s=0.2)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with runtime.sessions() as session:
        per_contact = session.execute(
            select(AttemptRow.contact_id, func.count())
            .where(AttemptRow.campaign_id == campaign_id)
            .group_by(AttemptRow.contact_id)
        ).all()
    assert len(per_contact) == len(runtime.dials) > 0
    assert all(count == 1 for _, count in per_contact)
    assert len(set(runtime.dials)) == len(runtime.dials)


def test_a_claim_creates_its_attempts_in_priority_order_and_enqueues_them_so(
    runtime: RecordingRuntime,
) -> None:
    now = datetime.now(UTC)
    campaign_id = _campaign(runtime, factories.us_numbers(6, start=2000), now)
    levels = [0, 9, 5, 9, 0, 5]  # by contact; the earlier contact of a level is due earlier
    with transaction(runtime.sessions) as session:
        for i, contact in enumerate(
            session.scalars(
                select(ContactRow)
                .where(ContactRow.campaign_id == campaign_id)
                .order_by(ContactRow.id)
            )
        ):
            contact.priority = levels[i]
            contact.next_due_at = now - timedelta(seconds=60 - i)

    tick(runtime, now)

    with runtime.sessions() as session:
        rows = session.execute(
            select(AttemptRow.id, ContactRow.priority)
            .join(ContactRow, ContactRow.id == AttemptRow.contact_id)
            .where(AttemptRow.campaign_id == campaign_id)
        )
        by_attempt = {attempt: priority for attempt, priority in rows}
        contacts = _contacts(runtime, campaign_id)
    assert runtime.dials == sorted(by_attempt)
    assert [by_attempt[a] for a in runtime.dials] == [9, 9, 5, 5, 0, 0]
    assert {(c.state, c.attempts, c.waiting_reason) for c in contacts} == {("in_flight", 1, None)}


def test_a_tick_is_idle_only_when_nothing_is_due_with_room_to_dial(
    runtime: RecordingRuntime,
) -> None:
    now = datetime.now(UTC)
    assert tick(runtime, now).idle  # no running campaign
    _campaign(
        runtime,
        factories.us_numbers(10, start=3000),
        now,
        pacing={"cps": 2, "max_live_calls": 50, "max_call_duration": "2s"},
    )
    assert not tick(runtime, now, horizon_s=2.0).idle  # claimed 4
    assert not tick(runtime, now, horizon_s=2.0).idle  # the broker share is full: top it up soon
    _campaign(runtime, factories.us_numbers(2, start=3100), now + timedelta(hours=1))
    with transaction(runtime.sessions) as session:
        session.execute(delete(AttemptRow))  # room again; the first campaign's rest is claimed
    tick(runtime, now, horizon_s=60.0)
    assert tick(runtime, now, horizon_s=60.0).idle  # room, but nothing due in either campaign


def _open_on(runtime: RecordingRuntime, campaign_id: int) -> list[int]:
    with runtime.sessions() as session:
        query = select(AttemptRow.id).where(
            AttemptRow.campaign_id == campaign_id, AttemptRow.state == "queued"
        )
        return list(session.scalars(query.order_by(AttemptRow.id)))


def _end(runtime: RecordingRuntime, attempt_ids: list[int]) -> None:
    with transaction(runtime.sessions) as session:
        session.execute(
            update(AttemptRow).where(AttemptRow.id.in_(attempt_ids)).values(state="completed")
        )


@contextmanager
def _account(runtime: RecordingRuntime, document: dict[str, object]) -> Iterator[None]:
    """The account policy `document` in force while the block runs (this database's, shared)."""
    with transaction(runtime.sessions) as session:
        account.apply(session, document)
    try:
        yield
    finally:
        with transaction(runtime.sessions) as session:
            account.apply(session, {})


def _on_and_off_trunk(runtime: RecordingRuntime, cps: int, start: int) -> tuple[int, int, int]:
    """Two campaigns dialing through `carrier-t`, and one through the default trunk."""
    now = datetime.now(UTC)
    pacing = {"cps": cps, "max_live_calls": 100, "max_call_duration": "2s"}
    on_trunk = {"pacing": pacing, "gateway": {"trunk": "carrier-t"}}
    return (
        _campaign(runtime, factories.us_numbers(60, start=start), now, **on_trunk),
        _campaign(runtime, factories.us_numbers(60, start=start + 100), now, **on_trunk),
        _campaign(runtime, factories.us_numbers(60, start=start + 200), now, pacing=pacing),
    )


def test_a_full_trunk_takes_no_new_attempts_from_any_campaign_dialing_through_it(
    runtime: RecordingRuntime,
) -> None:
    first, second, elsewhere = _on_and_off_trunk(runtime, cps=10, start=4000)
    now = datetime.now(UTC)
    with _account(runtime, {"trunks": {"carrier-t": {"max_live_calls": 3}}}):
        tick(runtime, now, horizon_s=2.0)
        # Each campaign may take the room the tick began with; the limiter holds the overshoot.
        assert [len(_open_on(runtime, c)) for c in (first, second, elsewhere)] == [3, 3, 20]

        _end(runtime, _open_on(runtime, first))  # 3 of 6 open on the trunk end: still full
        tick(runtime, now, horizon_s=2.0)
        assert [len(_open_on(runtime, c)) for c in (first, second)] == [0, 3]

        _end(runtime, _open_on(runtime, second)[:2])  # two slots free
        tick(runtime, now, horizon_s=2.0)
        assert [len(_open_on(runtime, c)) for c in (first, second)] == [2, 3]


def test_a_slower_trunk_sets_how_much_each_campaign_on_it_queues(
    runtime: RecordingRuntime,
) -> None:
    first, second, elsewhere = _on_and_off_trunk(runtime, cps=20, start=4300)
    with _account(runtime, {"trunks": {"carrier-t": {"cps": 5}}}):
        tick(runtime, datetime.now(UTC), horizon_s=2.0)
    # 5 calls/s x 2 s each on the trunk, 20 x 2 s on a trunk the policy leaves alone.
    assert [len(_open_on(runtime, c)) for c in (first, second, elsewhere)] == [10, 10, 40]
