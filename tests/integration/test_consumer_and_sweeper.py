"""Applying notifications and sweeping, on real PostgreSQL and Redis, one step at a time."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, NotificationRow
from campaign.domain.outcomes import parse_notification
from campaign.services import intake, notifications
from campaign.services.notifications import Applied, drain_inbox, shard_of
from campaign.settings import Settings
from schedules.dispatcher import tick
from schedules.sweeper import sweep
from tests import factories
from tests.support.runtime import RecordingRuntime
from workers import notifications as task

ANSWERED = {"conversationId": "c1", "status": "Answered", "reason": "200 OK"}
HUMAN = {
    "conversationId": "c1",
    "status": "completed",
    "reasonCode": "caller-disconnected",
    "reason": "200 OK",
    "duration": "14",
    "machinedetection": "amd_human_detected",
}
BUSY = {
    "conversationId": "c1",
    "status": "failed",
    "reason": "486 Busy Here",
    "reasonCode": "Busy Here",
    "machinedetection": "disconnect",
}


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime(settings.model_copy(update={"queue_prefix": f"c{secrets.token_hex(4)}"}))
    rt.limiter.restore([], [], 0)
    yield rt
    with transaction(rt.sessions) as session:
        session.execute(delete(CampaignRow))
    rt.close()


def _sent_attempt(
    rt: RecordingRuntime,
    *,
    deadline: datetime | None = None,
    silent: datetime | None = None,
    sid: str | None = None,
    **spec: object,
) -> int:
    """A dispatched attempt marked `sending` (`accepted` with a `sid`), as if the POST just went
    out; its silent deadline is `silent`, or the full `deadline`."""
    now = datetime.now(UTC)
    with transaction(rt.sessions) as session:
        campaign_id = factories.make_campaign(session, factories.spec(**spec))
        factories.add_contacts(
            session, campaign_id, factories.us_numbers(1, secrets.randbelow(10**6))
        )
    rt.dials.clear()
    tick(rt, datetime.now(UTC))
    [attempt_id] = rt.dials
    with transaction(rt.sessions) as session:
        attempt = session.get_one(AttemptRow, attempt_id)
        attempt.state, attempt.sending_at = "sending" if sid is None else "accepted", now
        attempt.sid = sid
        attempt.deadline_at = deadline or now + timedelta(minutes=5)
        attempt.silent_deadline_at = silent or attempt.deadline_at
    return attempt_id


def _store(
    rt: RecordingRuntime, attempt_id: int, body: dict[str, object], now: datetime
) -> intake.Received:
    """Store `body` as the receiver does (its one statement: an `answered` is applied in place)."""
    received = intake.receive(
        rt.intake,
        attempt_id=attempt_id,
        body=json.dumps(body).encode(),
        headers={},
        notification=parse_notification(body),
        now=now,
    )
    return asyncio.run(received)


def _notify(rt: RecordingRuntime, attempt_id: int, body: dict[str, object]) -> str | None:
    """Store `body` as the receiver does, then drain the attempt's share as its consumer does;
    what applying it did, as its inbox row records it (the receiver applies an `answered`)."""
    received = _store(rt, attempt_id, body, datetime.now(UTC))
    assert received.created
    if received.for_consumer:
        _drain(rt, shard_of(attempt_id), limit=100)
    with rt.sessions() as session:
        return session.get_one(NotificationRow, received.notification_id).result


def _rows(rt: RecordingRuntime, attempt_id: int) -> tuple[AttemptRow, ContactRow]:
    with rt.sessions() as session:
        attempt = session.get_one(AttemptRow, attempt_id)
        return attempt, session.get_one(ContactRow, attempt.contact_id)


def test_answer_then_human_completion_closes_the_contact(runtime: RecordingRuntime) -> None:
    attempt_id = _sent_attempt(runtime)

    assert _notify(runtime, attempt_id, ANSWERED) == "applied"
    assert _notify(runtime, attempt_id, HUMAN) == "applied"

    attempt, contact = _rows(runtime, attempt_id)
    assert (attempt.state, attempt.outcome, attempt.amd, attempt.duration_s) == (
        "completed",
        "human",
        "amd_human_detected",
        14,
    )
    assert (contact.state, contact.last_outcome) == ("done", "human")


def test_completion_before_answer_and_duplicates_change_nothing_more(
    runtime: RecordingRuntime,
) -> None:
    attempt_id = _sent_attempt(runtime)

    assert _notify(runtime, attempt_id, HUMAN) == "applied"
    assert _notify(runtime, attempt_id, ANSWERED) == "regression"
    assert _notify(runtime, attempt_id, {**HUMAN, "duration": 15}) == "duplicate"

    attempt, contact = _rows(runtime, attempt_id)
    assert (attempt.state, attempt.duration_s, contact.state) == ("completed", 14, "done")
    assert attempt.answered_at is not None


def test_busy_redials_after_the_policy_delay(runtime: RecordingRuntime) -> None:
    attempt_id = _sent_attempt(runtime)

    assert _notify(runtime, attempt_id, BUSY) == "applied"

    attempt, contact = _rows(runtime, attempt_id)
    assert (attempt.state, attempt.outcome, attempt.sip_code) == ("failed", "busy", 486)
    assert contact.state == "pending"
    assert attempt.ended_at is not None
    assert contact.next_due_at is not None
    assert contact.next_due_at - attempt.ended_at == timedelta(seconds=1)
    assert "busy" in (attempt.decision or "")


def test_final_frees_the_live_call_lease(runtime: RecordingRuntime) -> None:
    attempt_id = _sent_attempt(runtime)
    key = runtime.limiter.live_key("campaign", _rows(runtime, attempt_id)[0].campaign_id)
    runtime.limiter.restore(
        [(key, str(attempt_id), datetime.now(UTC) + timedelta(minutes=1))], [], 0
    )
    assert runtime.limiter.live_count(key) == 1

    _notify(runtime, attempt_id, HUMAN)

    assert runtime.limiter.live_count(key) == 0


def test_attempt_without_a_final_by_its_deadline_is_lost_and_redialed(
    runtime: RecordingRuntime,
) -> None:
    attempt_id = _sent_attempt(runtime, deadline=datetime.now(UTC) - timedelta(seconds=1))

    sweep(runtime, datetime.now(UTC), random.Random(1))

    attempt, contact = _rows(runtime, attempt_id)
    assert (attempt.state, attempt.outcome) == ("lost", "lost")
    assert contact.state == "pending"  # the factory spec retries `lost` after 1 s


def test_sweeper_resends_attempts_stuck_in_queued(runtime: RecordingRuntime) -> None:
    with transaction(runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, factories.spec())
        factories.add_contacts(session, campaign_id, factories.us_numbers(2, 777000))
    tick(runtime, datetime.now(UTC))
    sent = list(runtime.dials)
    runtime.dials.clear()  # as if the broker lost the messages

    later = datetime.now(UTC) + timedelta(seconds=runtime.settings.sweep_queued_stale_s + 1)
    result = sweep(runtime, later, random.Random(1))

    assert result.resent == 2
    assert sorted(runtime.dials) == sorted(sent)


def test_sweeper_restores_leases_after_redis_lost_them(runtime: RecordingRuntime) -> None:
    attempt_id = _sent_attempt(runtime)
    key = runtime.limiter.live_key("campaign", _rows(runtime, attempt_id)[0].campaign_id)
    for stale in runtime.redis.scan_iter(f"{runtime.settings.queue_prefix}:*"):
        runtime.redis.delete(stale)  # Redis lost everything (the lease was never taken here)

    result = sweep(runtime, datetime.now(UTC), random.Random(1))

    assert result.leases_restored >= 1
    assert runtime.limiter.live_count(key) == 1


def test_campaign_completes_when_no_contact_is_left(runtime: RecordingRuntime) -> None:
    attempt_id = _sent_attempt(runtime)
    _notify(runtime, attempt_id, HUMAN)

    sweep(runtime, datetime.now(UTC), random.Random(1))

    with runtime.sessions() as session:
        campaign = session.get_one(CampaignRow, _rows(runtime, attempt_id)[0].campaign_id)
    assert campaign.state == "completed"


PAST = timedelta(seconds=1)


def test_unplaced_silent_attempt_goes_back_to_the_policy_as_a_refused_dial_out(
    runtime: RecordingRuntime,
) -> None:
    # The POST got a 500 or timed out (no sid) and no call ever announced itself.
    attempt_id = _sent_attempt(
        runtime, silent=datetime.now(UTC) - PAST, retry={"min_gap": "1h", "per_day": 1}
    )

    result = sweep(runtime, datetime.now(UTC), random.Random(1))

    attempt, contact = _rows(runtime, attempt_id)
    assert result.silent == 1
    assert (attempt.state, attempt.outcome, attempt.counted) == ("error", "gateway_error", False)
    assert contact.state == "pending"
    assert attempt.ended_at is not None
    assert contact.next_due_at is not None
    # Not a call: neither min_gap (1h) nor per_day (1) holds the redial back.
    assert contact.next_due_at - attempt.ended_at < timedelta(minutes=3)


def test_placed_silent_attempt_is_lost_and_frees_its_slot_before_the_full_deadline(
    runtime: RecordingRuntime,
) -> None:
    attempt_id = _sent_attempt(runtime, silent=datetime.now(UTC) - PAST, sid="sid-1")
    key = runtime.limiter.live_key("campaign", _rows(runtime, attempt_id)[0].campaign_id)
    runtime.limiter.restore([(key, str(attempt_id), datetime.now(UTC) + timedelta(hours=1))], [], 0)

    sweep(runtime, datetime.now(UTC), random.Random(1))

    attempt, _ = _rows(runtime, attempt_id)
    assert (attempt.state, attempt.outcome) == ("lost", "lost")
    assert runtime.limiter.live_count(key) == 0


def test_an_attempt_that_heard_anything_waits_for_its_full_deadline(
    runtime: RecordingRuntime,
) -> None:
    answered = _sent_attempt(runtime, silent=datetime.now(UTC) - PAST, sid="sid-2")
    _notify(runtime, answered, ANSWERED)
    in_progress = _sent_attempt(runtime, silent=datetime.now(UTC) - PAST, sid="sid-3")
    _notify(runtime, in_progress, {"status": "Call-In-Progress", "conversationId": "c3"})

    result = sweep(runtime, datetime.now(UTC), random.Random(1))

    assert result.silent == 0
    assert [_rows(runtime, a)[0].state for a in (answered, in_progress)] == [
        "answered",
        "accepted",
    ]


def test_a_final_stored_while_the_broker_was_down_beats_the_deadline(
    runtime: RecordingRuntime,
) -> None:
    # The receiver stored it, but its consumer message never went out (Redis was restarting);
    # the attempt's full deadline has passed by the time the sweeper looks.
    attempt_id = _sent_attempt(runtime, deadline=datetime.now(UTC) - PAST, sid="sid-4")
    _store(runtime, attempt_id, HUMAN, datetime.now(UTC) - timedelta(minutes=1))

    result = sweep(runtime, datetime.now(UTC), random.Random(1))

    attempt, contact = _rows(runtime, attempt_id)
    assert (result.notifications_applied, result.lost) == (1, 0)
    assert (attempt.state, attempt.outcome, contact.state) == ("completed", "human", "done")


def _drain(rt: RecordingRuntime, shard: int, *, limit: int) -> list[Applied]:
    """Drain `shard` as a drain thread does, up to `limit` rows."""
    return drain_inbox(
        rt.sessions,
        leases=rt.leases,
        now=lambda: datetime.now(UTC),
        rng=random.Random(1),
        limit=limit,
        shard=shard,
    )


def test_a_sharded_drain_applies_only_its_share_of_the_inbox(runtime: RecordingRuntime) -> None:
    ids = [_sent_attempt(runtime) for _ in range(2)]
    while shard_of(ids[0]) == shard_of(ids[1]):  # ids are consecutive: rarely needed
        ids[1] = _sent_attempt(runtime)
    for attempt_id in ids:
        _store(runtime, attempt_id, HUMAN, datetime.now(UTC))

    def drain(shard: int) -> list[Applied]:
        return _drain(runtime, shard, limit=10)

    assert drain(shard_of(ids[0])) == [Applied.APPLIED]
    assert (_rows(runtime, ids[0])[0].state, _rows(runtime, ids[1])[0].state) == (
        "completed",
        "sending",
    )
    assert drain(shard_of(ids[1])) == [Applied.APPLIED]
    assert _rows(runtime, ids[1])[0].state == "completed"


def test_a_drain_applies_its_share_oldest_first_up_to_its_limit(
    runtime: RecordingRuntime,
) -> None:
    # The first row is taken by the loading statement, the rest by a listing: both paths run.
    ids = _same_shard(runtime, 3)
    for attempt_id in ids:
        _store(runtime, attempt_id, HUMAN, datetime.now(UTC))

    def drain(limit: int) -> list[Applied]:
        return _drain(runtime, shard_of(ids[0]), limit=limit)

    assert drain(2) == [Applied.APPLIED, Applied.APPLIED]
    assert [_rows(runtime, i)[0].state for i in ids] == ["completed", "completed", "accepted"]
    assert drain(10) == [Applied.APPLIED]
    assert drain(10) == []
    assert _rows(runtime, ids[2])[0].state == "completed"


# The drain's wake-up protocol (`workers.notifications.drain`): a drain takes the rows stored
# while it runs (their receivers found the share's wake key set, so no drain of their own was
# woken), and clears the key only before a last read.


@pytest.fixture
def drains(runtime: RecordingRuntime, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The task runs on the test's runtime; yields the number of rows each of its reads applied."""
    monkeypatch.setattr(task, "runtime", lambda: runtime)
    reads: list[int] = []
    real = drain_inbox

    def counted(*args: object, **kwargs: object) -> list[Applied]:
        results = real(*args, **kwargs)
        reads.append(len(results))
        return results

    monkeypatch.setattr(notifications, "drain_inbox", counted)
    return reads


def _same_shard(rt: RecordingRuntime, n: int) -> list[int]:
    """`n` sent attempts whose notifications belong to one consumer share."""
    by_shard: dict[int, list[int]] = {}
    while True:
        attempt_id = _sent_attempt(rt, sid="sid")
        share = by_shard.setdefault(shard_of(attempt_id), [])
        share.append(attempt_id)
        if len(share) == n:
            return share


def _after_read(monkeypatch: pytest.MonkeyPatch, acts: dict[int, Callable[[], None]]) -> None:
    """Run `acts[n]` right after the task's `n`th read (counted from 1)."""
    inner = notifications.drain_inbox
    reads = [0]

    def read(*args: object, **kwargs: object) -> list[Applied]:
        results: list[Applied] = inner(*args, **kwargs)
        reads[0] += 1
        if reads[0] in acts:
            acts[reads[0]]()
        return results

    monkeypatch.setattr(notifications, "drain_inbox", read)


def _final(rt: RecordingRuntime, attempt_id: int) -> None:
    _store(rt, attempt_id, HUMAN, datetime.now(UTC))


def _woken(rt: RecordingRuntime, first: int) -> tuple[int, str]:
    """`first`'s final stored and its share's wake key set, as for the task woken to drain it;
    the share and its key."""
    _final(rt, first)
    shard = shard_of(first)
    key = rt.wake_key(shard)
    rt.redis.set(key, 1)
    return shard, key


def test_a_row_stored_while_the_drain_runs_is_taken_by_it(
    runtime: RecordingRuntime, drains: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _same_shard(runtime, 2)
    shard, key = _woken(runtime, first)

    def store_while_the_key_is_set() -> None:
        assert runtime.redis.exists(key)  # so this row's receiver wakes no task
        _final(runtime, second)

    _after_read(monkeypatch, {1: store_while_the_key_is_set})

    assert task.drain(shard) == 2
    assert [_rows(runtime, a)[0].state for a in (first, second)] == ["completed", "completed"]
    # The first row; the clear; the second, so the key is taken back; nothing; the clear; then
    # no read: nothing waits (`_any_waiting`, one statement outside a transaction).
    assert drains == [1, 1, 0]
    assert not runtime.redis.exists(key)  # the next row's receiver wakes a drain


def test_a_drain_that_finds_its_key_taken_after_the_clear_leaves_the_rest_to_that_drain(
    runtime: RecordingRuntime, drains: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _same_shard(runtime, 2)
    shard, key = _woken(runtime, first)
    # A row stored while the key is set, then a receiver that found it clear (after the drain
    # cleared it) sets it and wakes a drain of its own.
    _after_read(
        monkeypatch, {1: lambda: _final(runtime, second), 2: lambda: runtime.redis.set(key, 1)}
    )

    assert task.drain(shard) == 2
    assert _rows(runtime, second)[0].state == "completed"
    assert drains == [1, 1]
    assert runtime.redis.exists(key)  # the other drain's


def test_a_drain_hands_its_key_back_after_its_time_even_while_rows_keep_coming(
    runtime: RecordingRuntime, drains: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _same_shard(runtime, 2)
    shard, key = _woken(runtime, first)
    monkeypatch.setattr(notifications, "MAX_DRAIN_S", 0.0)
    # Stored while the key is set: the read after the clear takes it, and the drain ends there.
    _after_read(monkeypatch, {1: lambda: _final(runtime, second)})

    assert task.drain(shard) == 2
    assert drains == [1, 1]
    assert not runtime.redis.exists(key)


def test_an_idle_drain_reads_once_and_leaves_the_key_clear(
    runtime: RecordingRuntime, drains: list[int]
) -> None:
    runtime.redis.set(runtime.wake_key(3), 1)

    assert task.drain(3) == 0
    assert drains == [0]  # after the clear, nothing waits: no second read
    assert not runtime.redis.exists(runtime.wake_key(3))
