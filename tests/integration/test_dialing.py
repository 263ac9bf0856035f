"""The dial path on real PostgreSQL, Redis and a real simulator: gates, pacing, gateway faults."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select

from campaign.breaker import gateway_id
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, DncRow, EventRow
from campaign.domain import tokens
from campaign.domain.pacing import emission_interval_ms
from campaign.domain.states import CampaignState
from campaign.errors import NotFound, PacingExhausted
from campaign.gateway.client import SavgClient
from campaign.services import claims, dialing, lifecycle
from campaign.services.claims import Claimed
from campaign.services.dialing import DialDeps, DialResult
from campaign.settings import Settings
from campaign.simulator.control import SimControl
from schedules.dispatcher import tick
from schedules.sweep_attempts import resend_stale
from tests import factories
from tests.support.runtime import RecordingRuntime, dial_deps
from workers import dial as task


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime(
        settings.model_copy(
            update={
                "gateway_failures_before_pause": 3,
                "gateway_breaker_failures": 3,
                "gateway_breaker_cooldown_s": 1.0,
                "queue_prefix": f"d{secrets.token_hex(4)}",
            }
        ),
        pool_size=4,
    )
    rt.limiter.restore([], [], 0)
    yield rt
    with transaction(rt.sessions) as session:
        session.execute(delete(CampaignRow))
        session.execute(delete(DncRow))
    rt.close()


@pytest.fixture
def deps(runtime: RecordingRuntime, sim: SimControl) -> Iterator[DialDeps]:
    with dial_deps(runtime, sim.base_url, utcnow, savg_read_timeout_s=1.0) as built:
        yield built


Queue = Callable[..., list[int]]


@pytest.fixture
def queue(runtime: RecordingRuntime) -> Queue:
    """Create a running campaign with contacts and dispatch them: returns the queued attempt ids."""

    def make(count: int = 1, **spec: object) -> list[int]:
        with transaction(runtime.sessions) as session:
            campaign_id = factories.make_campaign(session, factories.spec(**spec))
            factories.add_contacts(
                session, campaign_id, factories.us_numbers(count, start=secrets.randbelow(10**6))
            )
        runtime.dials.clear()
        tick(runtime, datetime.now(UTC))
        with runtime.sessions() as session:
            return list(
                session.scalars(
                    select(AttemptRow.id)
                    .where(AttemptRow.id.in_(runtime.dials), AttemptRow.campaign_id == campaign_id)
                    .order_by(AttemptRow.id)
                )
            )

    return make


def _healthy(sim: SimControl) -> None:
    sim.configure(faults={"burst_5xx": {"rate": 0.0}})
    sim.reset()  # ends the burst in progress


def _attempt(runtime: RecordingRuntime, attempt_id: int) -> AttemptRow:
    with runtime.sessions() as session:
        return session.get_one(AttemptRow, attempt_id)


def _contact(runtime: RecordingRuntime, attempt_id: int) -> ContactRow:
    with runtime.sessions() as session:
        return session.get_one(ContactRow, session.get_one(AttemptRow, attempt_id).contact_id)


def _take(deps: DialDeps, attempt_id: int, token: str | None = None) -> Claimed:
    claim = claims.take(deps.sessions, attempt_id, token, utcnow())
    assert claim is not None
    return claim


def _dial(deps: DialDeps, attempt_id: int) -> DialResult:
    return dialing.dial(deps, _take(deps, attempt_id))


def test_dial_posts_once_and_records_the_gateway_ids(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    [attempt_id] = queue(gateway={"metadata": {"companyName": "abc"}})

    assert _dial(deps, attempt_id) is DialResult.sent

    attempt = _attempt(runtime, attempt_id)
    [call] = sim.calls()
    assert (attempt.state, attempt.sid, attempt.call_id) == (
        "accepted",
        call["sid"],
        call["callId"],
    )
    assert call["target"] == "tel:" + attempt.phone.removeprefix("+")
    assert call["machineDetection"] == "detect"
    ours = call["metadata"].pop("campaign")
    assert call["metadata"] == {"companyName": "abc", "name": "contact 0"}
    assert call["notifyurl"].startswith(f"{deps.settings.notify_base_url}/notify/{attempt_id}.")
    base = f"{deps.settings.notify_base_url}/disposition/"
    assert (ours["campaign_id"], ours["attempt_id"], ours["external_id"]) == (
        attempt.campaign_id,
        attempt_id,
        None,
    )
    token = ours["disposition_url"].removeprefix(base)
    disposition = tokens.Purpose.DISPOSITION
    secrets_ = deps.settings.notify_secrets
    assert tokens.verify(token, secrets_, utcnow(), disposition) == attempt_id
    assert attempt.deadline_at is not None
    spent = attempt.deadline_at + tokens.DISPOSITION_GRACE + timedelta(seconds=2)
    with pytest.raises(NotFound):
        tokens.verify(token, secrets_, spent, disposition)


def test_duplicate_delivery_cannot_claim_a_claimed_attempt(deps: DialDeps, queue: Queue) -> None:
    [attempt_id] = queue()
    assert claims.take(deps.sessions, attempt_id, None, utcnow()) is not None
    assert claims.take(deps.sessions, attempt_id, None, utcnow()) is None


def test_stale_claim_token_cannot_send(deps: DialDeps, sim: SimControl, queue: Queue) -> None:
    [attempt_id] = queue()
    _take(deps, attempt_id)

    assert claims.take(deps.sessions, attempt_id, "not-the-claim", utcnow()) is None
    assert sim.calls() == []


def test_paused_campaign_hands_the_contact_back_without_consuming_an_attempt(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    [attempt_id] = queue()
    with transaction(runtime.sessions) as session:
        attempt = session.get_one(AttemptRow, attempt_id)
        session.get_one(CampaignRow, attempt.campaign_id).state = CampaignState.PAUSED

    assert _dial(deps, attempt_id) is DialResult.released

    contact = _contact(runtime, attempt_id)
    assert (contact.state, contact.attempts, contact.waiting_reason) == (
        "pending",
        0,
        "campaign paused",
    )
    assert sim.calls() == []


def test_number_added_to_dnc_after_dispatch_is_not_called(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    [attempt_id] = queue()
    with transaction(runtime.sessions) as session:
        session.add(DncRow(phone=session.get_one(AttemptRow, attempt_id).phone))

    assert _dial(deps, attempt_id) is DialResult.released
    assert _contact(runtime, attempt_id).state == "suppressed"
    assert sim.calls() == []


def test_a_dial_waiting_for_its_rate_slot_holds_a_ticket_and_sends_at_it(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    attempt_ids = queue(3, pacing={"cps": 2, "max_live_calls": 5, "max_call_duration": "2s"})
    strict = replace(deps, settings=deps.settings.model_copy(update={"pacing_max_wait_s": 0.0}))
    assert _dial(strict, attempt_ids[0]) is DialResult.sent
    claim = _take(strict, attempt_ids[1])

    with pytest.raises(PacingExhausted) as waiting:
        dialing.dial(strict, claim)

    ticket = waiting.value.ticket_at_ms
    assert ticket is not None
    period_ms = emission_interval_ms(2)  # 500 ms, stretched by the send check's slack
    assert 0.25 < waiting.value.retry_after_s <= period_ms / 1000  # a period after the first
    assert _attempt(runtime, attempt_ids[1]).state == "dialing"  # still ours, nothing sent
    # The next dial's slot comes after the ticket's: the ticket took its slot.
    with pytest.raises(PacingExhausted) as next_one:
        dialing.dial(strict, _take(strict, attempt_ids[2]))
    assert next_one.value.ticket_at_ms == pytest.approx(ticket + period_ms, abs=1)
    time.sleep(waiting.value.retry_after_s)
    again = _take(strict, attempt_ids[1], claim.token)  # the retried task re-reads its facts
    assert dialing.dial(strict, again, ticket) is DialResult.sent
    assert len(sim.calls()) == 2


def test_the_task_dials_a_retry_that_carries_an_argument_from_a_newer_release(
    deps: DialDeps, sim: SimControl, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # During a rolling upgrade a newer worker's retry may reach this one: an argument added
    # later is a hint this release ignores, never a task that fails and waits for the sweeper.
    monkeypatch.setattr(task, "runtime", lambda: deps)  # the claim reads only `.sessions`
    monkeypatch.setattr(task, "dial_deps", lambda: deps)
    first, second = queue(2)

    assert task.dial_attempt(first, None, None, {"a": "hint"}) is DialResult.sent
    assert task.dial_attempt(second, None, None, hint="later") is DialResult.sent
    assert len(sim.calls()) == 2


def test_a_streak_of_503s_opens_the_breaker_and_the_refusal_that_opened_it_is_not_charged(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    sim.configure(faults={"burst_5xx": {"rate": 1.0, "status": 503, "duration_ms": 60000}})
    attempt_ids = queue(3)

    results = [_dial(deps, a) for a in attempt_ids]

    assert results == [DialResult.refused] * 3
    first, third = _attempt(runtime, attempt_ids[0]), _attempt(runtime, attempt_ids[2])
    assert (first.state, first.outcome, first.counted) == ("error", "gateway_error", False)
    contact = _contact(runtime, attempt_ids[0])
    assert contact.state == "pending"
    assert contact.next_due_at is not None
    assert first.ended_at is not None
    assert contact.next_due_at > first.ended_at  # redialed per the gateway_error rule
    # The third failure opened the breaker: no outcome, no policy decision, just a wait.
    assert (third.state, third.outcome) == ("error", None)
    assert (third.decision or "").startswith("not charged: gateway unavailable since ")
    held = _contact(runtime, attempt_ids[2])
    assert (held.state, held.waiting_reason) == ("pending", "gateway unavailable")
    with runtime.sessions() as session:
        campaign = session.get_one(CampaignRow, first.campaign_id)
    assert campaign.state == "running"  # a sick gateway holds, it does not pause
    assert sim.calls() == []


def test_four_500s_with_the_threshold_at_3_open_the_breaker(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    sim.configure(faults={"burst_5xx": {"rate": 1.0, "status": 500, "duration_ms": 60000}})
    attempt_ids = queue(4)

    results = [_dial(deps, a) for a in attempt_ids]

    # A 500 may come after the call was placed: never re-sent, settled by the silent deadline.
    assert results == [DialResult.unknown] * 3 + [DialResult.held]
    assert [_attempt(runtime, a).state for a in attempt_ids] == ["sending"] * 3 + ["released"]
    assert _contact(runtime, attempt_ids[3]).waiting_reason == "gateway unavailable"
    gw = deps.breaker.read(gateway_id(deps.settings.savg_base_url, None))
    assert gw.open


def test_an_open_breaker_holds_dials_until_one_probe_succeeds(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    *failing, first, second = queue(5)
    sim.configure(faults={"burst_5xx": {"rate": 1.0, "status": 503, "duration_ms": 60000}})
    [_dial(deps, a) for a in failing]
    _healthy(sim)

    assert _dial(deps, first) is DialResult.held  # inside the 1 s cool-down
    held = _contact(runtime, first)
    gw = deps.breaker.read(gateway_id(deps.settings.savg_base_url, None))
    assert (held.state, held.next_due_at) == ("pending", gw.until)
    assert sim.calls() == []

    time.sleep(1.1)
    assert _dial(deps, second) is DialResult.sent  # the probe
    assert not deps.breaker.read(gw.gateway).open
    assert len(sim.calls()) == 1


def test_a_failed_probe_reopens_the_breaker_for_twice_as_long(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    *failing, probe = queue(4)
    sim.configure(faults={"burst_5xx": {"rate": 1.0, "status": 503, "duration_ms": 60000}})
    [_dial(deps, a) for a in failing]
    gateway = gateway_id(deps.settings.savg_base_url, None)
    opened = deps.breaker.read(gateway)
    time.sleep(1.1)

    assert _dial(deps, probe) is DialResult.refused

    reopened = deps.breaker.read(gateway)
    assert reopened.open
    assert reopened.since == opened.since
    assert reopened.until is not None
    assert opened.until is not None
    assert reopened.until - opened.until >= timedelta(seconds=1.9)  # 2 s cool-down after 1 s


def test_a_streak_of_rejected_requests_pauses_the_campaign(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    sim.configure(faults={"burst_5xx": {"rate": 1.0, "status": 404, "duration_ms": 60000}})
    attempt_ids = queue(3)

    assert [_dial(deps, a) for a in attempt_ids] == [DialResult.refused] * 3

    with runtime.sessions() as session:
        campaign = session.get_one(CampaignRow, _attempt(runtime, attempt_ids[0]).campaign_id)
    assert campaign.state == "paused"
    assert "refused 3 dial-outs in a row" in (campaign.paused_reason or "")
    assert not deps.breaker.read(gateway_id(deps.settings.savg_base_url, None)).open


def test_a_refused_dial_out_is_not_a_call_for_min_gap_at_either_gate(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    sim.configure(faults={"burst_5xx": {"rate": 1.0, "status": 503, "duration_ms": 60000}})
    retry = {"min_gap": "1h", "per_day": 1, "outcomes": {"gateway_error": {"delays": ["1s"]}}}
    [attempt_id] = queue(retry=retry)
    assert _dial(deps, attempt_id) is DialResult.refused
    contact = _contact(runtime, attempt_id)
    assert contact.next_due_at is not None
    assert contact.next_due_at - utcnow() < timedelta(seconds=5)  # not pushed out an hour
    _healthy(sim)
    time.sleep(1.1)

    runtime.dials.clear()
    tick(runtime, utcnow())  # the dispatch gate lets it through
    [again] = runtime.dials
    assert _dial(deps, again) is DialResult.sent  # and so does the dial gate
    assert len(sim.calls()) == 1


class Killed(BaseException):
    """A worker dying: nothing after it runs (not an Exception, so nothing catches it)."""


def test_a_worker_killed_while_waiting_for_its_slot_leaves_the_attempt_retakable(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    [attempt_id] = queue()

    def die(_: float) -> None:
        raise Killed

    with pytest.raises(Killed):
        _dial(replace(deps, sleep=die), attempt_id)

    # `dialing`, not `sending`: nothing was sent, so the sweeper may hand it to another worker.
    attempt = _attempt(runtime, attempt_id)
    assert (attempt.state, attempt.sending_at) == ("dialing", None)
    assert sim.calls() == []


def test_wrong_credentials_pause_the_campaign_at_once_and_hand_the_queued_attempts_back(
    deps: DialDeps, runtime: RecordingRuntime, queue: Queue
) -> None:
    attempt_id, waiting = queue(2)
    bad = SavgClient.from_settings(
        deps.settings.model_copy(update={"savg_client_secret": SecretStr("x" * 40)})
    )
    try:
        assert _dial(replace(deps, gateway=bad), attempt_id) is DialResult.refused
    finally:
        bad.close()
    with runtime.sessions() as session:
        campaign = session.get_one(CampaignRow, _attempt(runtime, attempt_id).campaign_id)
    assert campaign.state == "paused"
    assert "credentials" in (campaign.paused_reason or "")
    assert _attempt(runtime, waiting).state == "released"
    contact = _contact(runtime, waiting)
    assert (contact.state, contact.attempts, contact.waiting_reason) == (
        "pending",
        0,
        "campaign paused",
    )


def test_read_timeout_after_sending_is_never_resent(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    sim.configure(faults={"slow_answer": {"rate": 1.0, "delay_ms": 2500}})
    [attempt_id] = queue()

    assert _dial(deps, attempt_id) is DialResult.unknown

    attempt = _attempt(runtime, attempt_id)
    assert (attempt.state, attempt.sid) == (
        "sending",
        None,
    )  # a notification or the deadline settles it
    assert len(sim.calls()) == 1


def _campaign_of(runtime: RecordingRuntime, attempt_id: int) -> int:
    return _attempt(runtime, attempt_id).campaign_id


def test_pause_hands_queued_attempts_back_at_once_and_their_tasks_find_nothing(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    held, requeued, *queued = queue(4)
    campaign_id = _campaign_of(runtime, held)
    _take(deps, requeued)  # a worker took it and died; the sweeper queued it again
    resend_stale(runtime, utcnow() + timedelta(hours=1))
    claim = _take(deps, held)  # a worker holds it: its own task decides
    dues = {a: _contact(runtime, a).next_due_at for a in queued}

    with transaction(runtime.sessions) as session:
        lifecycle.pause(session, campaign_id)

    assert [_attempt(runtime, a).state for a in (held, requeued, *queued)] == [
        "dialing",
        "queued",
        "released",
        "released",
    ]
    for attempt_id in queued:
        assert _attempt(runtime, attempt_id).decision == "not dialed: campaign paused"
        contact = _contact(runtime, attempt_id)
        assert (contact.state, contact.attempts, contact.waiting_reason) == (
            "pending",
            0,
            "campaign paused",
        )
        assert contact.next_due_at == dues[attempt_id]  # a pause keeps due times
        assert claims.take(deps.sessions, attempt_id, None, utcnow()) is None  # task: skipped
    # The claimed and the re-queued attempts go through the dial path's own release.
    assert dialing.dial(deps, _take(deps, held, claim.token)) is DialResult.released
    assert _dial(deps, requeued) is DialResult.released
    assert {_contact(runtime, a).state for a in (held, requeued)} == {"pending"}
    assert sim.calls() == []

    with transaction(runtime.sessions) as session:
        lifecycle.resume(session, campaign_id)
    runtime.dials.clear()
    tick(runtime, datetime.now(UTC))
    with runtime.sessions() as session:
        again = session.scalars(
            select(AttemptRow.number).where(AttemptRow.id.in_(runtime.dials))
        ).all()
    assert sorted(again) == [1, 1, 1, 1]  # the released attempts were not spent


def test_cancel_releases_queued_attempts_and_reports_each_contact_closed_once(
    deps: DialDeps, runtime: RecordingRuntime, sim: SimControl, queue: Queue
) -> None:
    events = {"url": "http://127.0.0.1:9/none", "secret": "s" * 32, "types": ["contact.closed"]}
    held, *queued = queue(3, events=events)
    campaign_id = _campaign_of(runtime, held)
    claim = _take(deps, held)

    with transaction(runtime.sessions) as session:
        lifecycle.cancel(session, campaign_id, now=utcnow())

    assert [_attempt(runtime, a).state for a in queued] == ["released", "released"]
    assert {_attempt(runtime, a).decision for a in queued} == {"not dialed: campaign cancelled"}
    # The held attempt's task finds the campaign cancelled: released, its contact left as the
    # cancel closed (and reported) it.
    assert dialing.dial(deps, _take(deps, held, claim.token)) is DialResult.released
    assert {_contact(runtime, a).state for a in (held, *queued)} == {"cancelled"}
    with runtime.sessions() as session:
        closed = session.scalars(
            select(EventRow.contact_id).where(
                EventRow.campaign_id == campaign_id, EventRow.type == "contact.closed"
            )
        ).all()
    assert Counter(closed) == Counter(_contact(runtime, a).id for a in (held, *queued))
    assert sim.calls() == []
