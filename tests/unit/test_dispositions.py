"""The disposition decision: reading a body, placing a callback, and what a disposition does to its
contact in either order with the final notification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign.domain import tokens
from campaign.domain.calling_window import CallingWindow
from campaign.domain.dispositions import (
    ALLOWED,
    CallbackRules,
    Disposition,
    DispositionRequest,
    Settlement,
    parse_disposition,
    plan_callback,
    settle,
    settles,
)
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import PastAttempt, RetryPolicy
from campaign.domain.states import ContactEvent, ContactState, contact_transition
from campaign.errors import InvalidInput, NotFound

CHICAGO = ZoneInfo("America/Chicago")
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # Tuesday, 09:00 in Chicago
OFFICE = CallingWindow.from_dict({"hours": {"mon-fri": "09:00-20:00"}})
POLICY = RetryPolicy.from_dict({"max_attempts": 3, "outcomes": {"busy": {"delays": ["1m"]}}})


def _rules(window: CallingWindow = OFFICE, policy: RetryPolicy = POLICY) -> CallbackRules:
    return CallbackRules(window, policy, (CHICAGO,), timedelta(0))


def _callback(at: str, timezone: str | None = None) -> DispositionRequest:
    body = {"disposition": "callback", "at": at}
    if timezone:
        body["timezone"] = timezone
    return parse_disposition(body)


def _calls(n: int) -> list[PastAttempt]:
    return [PastAttempt(NOW - timedelta(hours=5 + i), OutcomeClass.HUMAN, True) for i in range(n)]


# --- reading a body ---------------------------------------------------------------------------


@pytest.mark.parametrize("word", ALLOWED)
def test_every_allowed_word_reads(word: str) -> None:
    body: dict[str, str] = {"disposition": word}
    if word == "callback":
        body["at"] = "2026-12-01T17:00"
    assert parse_disposition(body).disposition == Disposition(word)


@pytest.mark.parametrize("body", [{"disposition": "hangup"}, {"disposition": None}, {}])
def test_an_unknown_word_is_refused_with_the_allowed_list(body: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="done, callback, do_not_call, wrong_number, retry"):
        parse_disposition(body)


def test_done_keeps_its_label_and_ignores_fields_bots_add() -> None:
    read = parse_disposition({"disposition": "done", "label": " paid ", "sessionId": "x"})
    assert read == DispositionRequest(Disposition.DONE, label="paid")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"disposition": "callback"}, "at: a callback needs"),
        ({"disposition": "callback", "at": "2026-12-01"}, "not a local date and time"),
        ({"disposition": "callback", "at": "2026-12-01T17:00-06:00"}, "has an offset"),
        ({"disposition": "callback", "at": "tomorrow"}, "not a local date and time"),
        ({"disposition": "callback", "at": "2026-12-01T17:00", "timezone": "Mars/Base"}, "IANA"),
        ({"disposition": "done", "at": "2026-12-01T17:00"}, "at: only a callback"),
        ({"disposition": "done", "label": "x" * 101}, "label: give 1 to 100"),
        ({"disposition": "done", "label": "paid\x00"}, "control character"),
        ({"disposition": "done", "label": 7}, "label: must be a string"),
    ],
)
def test_a_bad_field_is_named(body: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_disposition(body)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_disposition(["done"])


def test_the_timezone_is_read_case_insensitively_as_its_canonical_name() -> None:
    assert _callback("2026-12-01T17:00", "america/chicago").timezone == "America/Chicago"


# --- placing a callback -----------------------------------------------------------------------


def test_a_callback_inside_the_window_is_due_at_the_local_time_asked() -> None:
    plan = plan_callback(
        _callback("2026-12-01T17:00"), _rules(), this_run=_calls(1), every_run=_calls(1), now=NOW
    )
    assert plan.due_at == datetime(2026, 12, 1, 17, 0, tzinfo=CHICAGO)
    assert not plan.moved


def test_the_given_timezone_wins_over_the_contacts() -> None:
    plan = plan_callback(
        _callback("2026-12-01T17:00", "America/New_York"),
        _rules(),
        this_run=[],
        every_run=[],
        now=NOW,
    )
    assert plan.due_at == datetime(2026, 12, 1, 17, 0, tzinfo=NY)


def test_a_callback_outside_the_window_moves_to_its_next_opening_and_says_so() -> None:
    plan = plan_callback(
        _callback("2026-12-05T17:00"), _rules(), this_run=[], every_run=[], now=NOW
    )  # a Saturday: next opening Monday 09:00 Chicago
    assert plan.due_at == datetime(2026, 12, 7, 9, 0, tzinfo=CHICAGO)
    assert plan.moved
    assert "outside the calling window" in plan.note
    assert plan.to_dict()["local_due_at"] == "2026-12-07T09:00:00-06:00"


def test_a_callback_counts_toward_the_frequency_caps() -> None:
    capped = RetryPolicy.from_dict({"min_gap": "1h"})
    recent = [PastAttempt(NOW - timedelta(minutes=10), OutcomeClass.HUMAN, True)]
    plan = plan_callback(
        _callback("2026-12-01T09:05"), _rules(policy=capped), this_run=recent,
        every_run=recent, now=NOW,
    )  # fmt: skip
    assert plan.due_at == NOW + timedelta(minutes=50)
    assert "frequency caps" in plan.note


def test_a_callback_is_not_dialed_once_max_attempts_are_used() -> None:
    plan = plan_callback(
        _callback("2026-12-01T17:00"), _rules(), this_run=_calls(3), every_run=_calls(3), now=NOW
    )
    assert plan.due_at is None
    assert "max_attempts 3" in plan.note


def test_a_callback_in_the_past_is_refused_but_a_slightly_late_one_is_now() -> None:
    with pytest.raises(InvalidInput, match="in the past"):
        plan_callback(_callback("2026-12-01T08:00"), _rules(), this_run=[], every_run=[], now=NOW)
    plan = plan_callback(
        _callback("2026-12-01T08:58"), _rules(), this_run=[], every_run=[], now=NOW
    )
    assert plan.due_at == NOW


# --- the decision, in both orders -------------------------------------------------------------

# What the retry policy made of the call when the final came first.
AFTER_POLICY = {
    OutcomeClass.HUMAN: ContactState.DONE,  # a final class
    OutcomeClass.BUSY: ContactState.PENDING,  # redial scheduled
    OutcomeClass.NO_ANSWER: ContactState.EXHAUSTED,  # out of attempts
}
DUE = NOW + timedelta(hours=2)
EXPECTED = {
    Disposition.DONE: ContactState.DONE,
    Disposition.CALLBACK: ContactState.PENDING,
    Disposition.DO_NOT_CALL: ContactState.SUPPRESSED,
    Disposition.WRONG_NUMBER: ContactState.INVALID,
}


def _apply(state: ContactState, settlement: Settlement) -> ContactState:
    if not settles(state, settlement):
        return state
    assert settlement.event is not None
    return contact_transition(state, settlement.event).state


@pytest.mark.parametrize("disposition", list(EXPECTED))
@pytest.mark.parametrize("outcome", list(AFTER_POLICY))
def test_a_disposition_wins_over_the_outcome_in_either_order(
    disposition: Disposition, outcome: OutcomeClass
) -> None:
    decision = settle(disposition, label="paid", outcome=outcome, callback_due=DUE)
    disposition_first = _apply(ContactState.IN_FLIGHT, decision)
    final_first = _apply(AFTER_POLICY[outcome], decision)
    assert disposition_first == final_first == EXPECTED[disposition]
    assert decision.due_at == (DUE if disposition is Disposition.CALLBACK else None)


@pytest.mark.parametrize("outcome", list(AFTER_POLICY))
def test_retry_leaves_the_contact_to_the_retry_policy(outcome: OutcomeClass) -> None:
    decision = settle(Disposition.RETRY, label=None, outcome=outcome, callback_due=None)
    assert decision.event is None
    assert _apply(AFTER_POLICY[outcome], decision) == AFTER_POLICY[outcome]


def test_a_callback_that_cannot_be_dialed_leaves_the_contact_to_the_policy() -> None:
    decision = settle(Disposition.CALLBACK, label=None, outcome=None, callback_due=None)
    assert decision.event is None
    assert "not possible" in decision.reason


@pytest.mark.parametrize(
    "closed", [ContactState.SUPPRESSED, ContactState.CANCELLED, ContactState.INVALID]
)
@pytest.mark.parametrize("disposition", list(EXPECTED))
def test_a_contact_closed_for_good_keeps_its_state(
    closed: ContactState, disposition: Disposition
) -> None:
    decision = settle(disposition, label=None, outcome=OutcomeClass.HUMAN, callback_due=DUE)
    assert _apply(closed, decision) == closed


def test_the_reason_names_the_label_and_what_the_line_did() -> None:
    decision = settle(Disposition.DONE, label="paid", outcome=OutcomeClass.HUMAN, callback_due=None)
    assert decision == Settlement(ContactEvent.RESOLVE, "disposition done: paid (call human)")


# --- the token --------------------------------------------------------------------------------


def test_a_disposition_token_is_not_a_notify_token_nor_the_other_way_round() -> None:
    later = NOW + timedelta(hours=1)
    notify = tokens.sign(7, "s3cret", expires_at=later)
    disposition = tokens.sign(7, "s3cret", expires_at=later, purpose=tokens.Purpose.DISPOSITION)
    assert notify != disposition
    assert tokens.verify(disposition, ["s3cret"], NOW, tokens.Purpose.DISPOSITION) == 7
    with pytest.raises(NotFound, match="unknown disposition token"):
        tokens.verify(notify, ["s3cret"], NOW, tokens.Purpose.DISPOSITION)
    with pytest.raises(NotFound, match="unknown notification token"):
        tokens.verify(disposition, ["s3cret"], NOW)
