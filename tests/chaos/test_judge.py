"""The chaos judge on synthetic simulator records: each promise it checks, broken on purpose.

The policy is the chaos campaign's own: busy redialed 3 times, no answer twice, rejected once,
`gateway_error` up to 30 times, everything else (and `lost`) final.
"""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import RetryPolicy
from campaign.simulator.outcomes import Outcome
from chaos.judge import Limits, OpenDecisions, Verdict, judge
from chaos.plan import FULL, spec
from chaos.replay import SIM_OUTCOMES

POLICY = RetryPolicy.from_dict(spec(FULL, "test")["retry"])
LIMITS = Limits(cps=2, max_live=2)
CLOSED = OpenDecisions(contacts=0, attempts=0)
_FINAL = {"human": "completed", "machine": "Completed"}
_urls = count()


def note(
    status: str, *, delivered: bool = True, code: int | None = None, error: str = "ConnectError"
) -> dict[str, Any]:
    """A notification as the simulator records it; undelivered ones were refused a connection
    unless `code` (an HTTP answer) or another `error` says otherwise."""
    return {
        "status": status,
        "delivered": delivered,
        "duplicate": False,
        "sent_at": 0.0,
        "status_code": 200 if delivered else code,
        "error": None if delivered or code else error,
    }


def call(
    number: str,
    at: float,
    outcome: str = "human",
    *,
    notes: list[dict[str, Any]] | None = None,
    reset: bool = False,
    length: float = 0.2,
    url: str | None = None,
) -> dict[str, Any]:
    """One `/_sim/calls` row; by default every notification of the outcome was delivered."""
    if notes is None:
        final = _FINAL.get(outcome, "failed")
        notes = [note("answered"), note(final)] if final != "failed" else [note("Failed")]
    return {
        "number": number.removeprefix("+"),
        "placed_at": at,
        "ended_at": at + length,
        "outcome": outcome,
        "notifyurl": url or f"http://api/notify/{next(_urls)}",
        "faults": ["connection_reset"] if reset else [],
        "notifications": notes,
    }


def verdict(
    records: list[dict[str, Any]],
    contacts: list[str],
    *,
    refused: list[dict[str, Any]] | None = None,
    open_decisions: OpenDecisions | None = CLOSED,
    limits: Limits = LIMITS,
    marks: dict[str, float] | None = None,
) -> Verdict:
    return judge(records, refused or [], contacts, POLICY, limits, open_decisions, marks)


def test_calls_exactly_as_the_policy_says_hold_every_promise() -> None:
    records = [
        call("+1", 0.0),
        call("+2", 1.0, "busy"),
        call("+2", 3.0, "busy"),
        call("+2", 6.0, "human"),
        call("+3", 8.0, "rejected"),
        call("+3", 10.0, "rejected"),  # rejected max 2: closed
        call("+4", 12.0, "busy"),
        call("+4", 14.0, "busy"),
        call("+4", 16.0, "busy"),
        call("+4", 18.0, "busy"),  # max_attempts 4: exhausted
    ]

    v = verdict(records, ["+1", "+2", "+3", "+4"])

    assert v.broken() == []
    assert (v.calls_made, v.calls_implied) == (10, 10)
    assert v.visible == {"human": 2, "busy": 6, "rejected": 2}


def test_a_redial_the_policy_wanted_and_never_came_is_broken() -> None:
    v = verdict([call("+1", 0.0, "busy")], ["+1"])

    (replay,) = v.differing
    assert (replay.made, replay.implied, replay.wants_more) == (1, 2, True)
    assert v.broken() == ["1 numbers called other than the policy says"]


def test_a_call_after_a_final_outcome_is_one_too_many() -> None:
    v = verdict([call("+1", 0.0, "machine"), call("+1", 5.0, "human")], ["+1"])

    (replay,) = v.differing
    assert (replay.made, replay.implied) == (2, 1)
    assert replay.outcomes == ("machine", "human")


@pytest.mark.parametrize(
    ("notes", "reset", "visible"),
    [
        ([note("Answered"), note("Completed")], False, "busy"),  # a final delivered: the true class
        ([note("answered"), note("failed", delivered=False)], False, "lost"),
        ([note("failed", delivered=False)], False, "lost"),  # sid known, silent: lost
        ([note("failed", delivered=False)], True, "gateway_error"),  # no sid, silent: not placed
        ([note("answered"), note("failed", delivered=False)], True, "lost"),  # heard: placed
    ],
)
def test_the_engine_visible_outcome_follows_what_was_delivered(
    notes: list[dict[str, Any]], reset: bool, visible: str
) -> None:
    v = verdict([call("+1", 0.0, "busy", notes=notes, reset=reset)], ["+1"])

    assert v.visible == {visible: 1}
    assert v.residual_risk == (visible == "gateway_error")


def test_lost_is_final_so_a_redial_after_it_is_one_too_many() -> None:
    lost = call("+1", 0.0, "busy", notes=[note("failed", delivered=False)])

    assert verdict([lost], ["+1"]).broken() == []
    assert verdict([lost, call("+1", 5.0)], ["+1"]).differing[0].implied == 1


def test_a_reset_call_the_engine_never_heard_of_is_redialed_and_counted_apart() -> None:
    silent_reset = call("+1", 0.0, notes=[note("completed", delivered=False)], reset=True)

    alone = verdict([silent_reset], ["+1"])
    redialed = verdict([silent_reset, call("+1", 2.0)], ["+1"])

    assert alone.differing[0].wants_more
    assert redialed.broken() == []
    assert redialed.residual_risk == 1


def test_a_contact_never_called_is_broken() -> None:
    v = verdict([call("+1", 0.0)], ["+1", "+2"])

    assert v.never_called == ("+2",)
    assert v.differing[0].implied == 1
    assert "1 contacts never called" in v.broken()


def test_two_calls_live_to_one_number_at_once_are_an_overlap() -> None:
    v = verdict(
        [call("+1", 0.0, "busy", length=3.0), call("+1", 2.0)],
        ["+1"],
        limits=Limits(cps=2, max_live=5),
    )

    assert v.overlaps == 1
    assert "1 pairs of calls live to one number at once" in v.broken()


def test_a_call_ending_as_the_next_starts_is_no_overlap() -> None:
    v = verdict([call("+1", 0.0, "busy", length=1.0), call("+1", 1.0)], ["+1"])

    assert v.overlaps == 0


def test_more_calls_in_a_second_than_cps_is_broken() -> None:
    records = [call(f"+{i}", 0.1 * i) for i in range(3)]

    v = verdict(records, ["+0", "+1", "+2"], limits=Limits(cps=2, max_live=9))

    assert (v.over_limit_windows, v.late_free_windows, v.max_in_1s) == (1, 1, 3)
    assert v.over_limit_at == ((0.0, 3),)
    assert "1 1-s windows over the cps limit" in v.broken()


def test_a_crowded_second_whose_calls_left_the_engine_on_time_is_still_broken() -> None:
    records = [call(f"+{i}", 0.1 * i) for i in range(3)]
    marks = {r["notifyurl"]: r["placed_at"] - 0.02 for r in records}  # each 20 ms on the way

    v = verdict(records, ["+0", "+1", "+2"], limits=Limits(cps=2, max_live=9), marks=marks)

    assert (v.over_limit_windows, v.late_free_windows) == (1, 1)
    assert "1 1-s windows over the cps limit" in v.broken()


def test_a_crowded_second_holding_a_call_delayed_on_the_way_is_transit_not_the_engine() -> None:
    records = [call("+0", 0.0), call("+1", 0.6), call("+2", 0.9)]
    marks = {r["notifyurl"]: r["placed_at"] - 0.002 for r in records}
    marks[records[1]["notifyurl"]] = 0.5  # sent on time, 100 ms on the way: past the slack

    v = verdict(records, ["+0", "+1", "+2"], limits=Limits(cps=2, max_live=9), marks=marks)

    assert (v.over_limit_windows, v.late_free_windows) == (1, 0)
    assert not any("cps limit" in line for line in v.broken())


def test_a_call_the_engine_has_no_sending_mark_for_excuses_nothing() -> None:
    records = [call("+0", 0.0), call("+1", 0.6), call("+2", 0.9)]

    v = verdict(records, ["+0", "+1", "+2"], limits=Limits(cps=2, max_live=9), marks={})

    assert v.late_free_windows == 1


def test_calls_a_whole_second_apart_fall_in_separate_windows() -> None:
    records = [call("+0", 0.0), call("+1", 0.5), call("+2", 1.0), call("+3", 1.5)]

    v = verdict(records, ["+0", "+1", "+2", "+3"], limits=Limits(cps=2, max_live=9))

    assert (v.over_limit_windows, v.max_in_1s) == (0, 2)


def test_more_calls_live_than_the_cap_is_broken() -> None:
    records = [call(f"+{i}", 0.6 * i, length=5.0) for i in range(3)]

    v = verdict(records, ["+0", "+1", "+2"])

    assert v.peak_live == 3
    assert "peak live calls 3 over cap" in v.broken()


def test_one_attempt_posted_twice_is_broken() -> None:
    v = verdict(
        [
            call("+1", 0.0, "busy", url="http://api/notify/x"),
            call("+1", 2.0, url="http://api/notify/x"),
        ],
        ["+1"],
    )

    assert v.reposted == 1


def test_a_number_outside_the_campaign_is_broken() -> None:
    assert verdict([call("+1", 0.0), call("+9", 1.0)], ["+1"]).strangers == ("+9",)


@pytest.mark.parametrize(
    ("open_decisions", "expected"),
    [
        (OpenDecisions(contacts=2, attempts=1), "decisions still open: 2 contacts, 1 attempts"),
        (None, "the engine's tables could not be read: decisions unknown"),
    ],
)
def test_decisions_left_open_or_unknown_are_broken(
    open_decisions: OpenDecisions | None, expected: str
) -> None:
    assert verdict([call("+1", 0.0)], ["+1"], open_decisions=open_decisions).broken() == [expected]


def test_refusals_that_could_exhaust_gateway_error_make_a_number_unjudgeable() -> None:
    refused = [{"reason": "burst_5xx", "status": 500, "target": "tel:1", "at": 0.0}] * 30

    v = verdict([call("+1", 0.0), call("+2", 0.5)], ["+1", "+2"], refused=refused)

    assert v.not_judgeable == ("+1",)
    assert v.refusals == {"burst_5xx": 30}


def test_a_final_answered_500_may_have_been_stored_so_either_reading_agrees() -> None:
    # The receiver committed the `failed` (busy) and then failed to enqueue: the engine redialed.
    maybe = call("+1", 0.0, "busy", notes=[note("failed", delivered=False, code=500)])
    never = call("+2", 0.0, "busy", notes=[note("failed", delivered=False)])

    v = verdict([maybe, call("+1", 2.0), never, call("+2", 2.0)], ["+1", "+2"])

    assert v.uncertain_calls == 1
    assert [(r.number, r.uncertain) for r in v.differing] == [("+2", False)]
    assert [r.number for r in v.replays if r.uncertain] == ["+1"]


def test_a_final_that_timed_out_may_have_been_stored_but_a_refused_connection_was_not() -> None:
    timed_out = call("+1", 0.0, notes=[note("completed", delivered=False, error="ReadTimeout")])
    refused = call("+2", 0.0, notes=[note("completed", delivered=False, error="ConnectError")])

    v = verdict([timed_out, refused], ["+1", "+2"])

    assert v.uncertain_calls == 1
    assert v.broken() == []  # lost and human are both final


def test_every_simulator_outcome_maps_to_the_engine_class_of_its_name() -> None:
    assert set(SIM_OUTCOMES) == {o.value for o in Outcome}
    assert all(SIM_OUTCOMES[name] is OutcomeClass(name) for name in SIM_OUTCOMES)
