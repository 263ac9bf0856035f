from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.pacing import (
    RETRY_JITTER_S,
    TICKET_LEAD_S,
    PacingLimits,
    TrunkShare,
    attempt_deadline,
    dispatch_budget,
    emission_interval_ms,
    retry_countdown,
    silent_deadline,
    tick_wait,
)
from campaign.errors import SpecInvalid


def test_omitted_block_takes_the_documented_defaults() -> None:
    limits = PacingLimits.from_dict(None)
    assert limits == PacingLimits(
        cps=10, max_live_calls=50, max_call_duration=timedelta(minutes=30), burst=1
    )


def test_block_is_read_from_spec_spelling() -> None:
    limits = PacingLimits.from_dict(
        {"cps": 2.5, "max_live_calls": 20, "max_call_duration": "90s", "burst": 3}
    )
    assert limits == PacingLimits(2.5, 20, timedelta(seconds=90), 3)


def test_to_dict_round_trips() -> None:
    limits = PacingLimits(cps=0.5, max_live_calls=3, max_call_duration=timedelta(minutes=5))
    assert limits.to_dict() == {
        "cps": 0.5,
        "max_live_calls": 3,
        "max_call_duration": "5m",
        "burst": 1,
    }
    assert PacingLimits.from_dict(limits.to_dict()) == limits


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(SpecInvalid) as caught:
        PacingLimits.from_dict(
            {"cps": 0, "max_live_calls": "many", "max_call_duration": "5x", "burst": 0, "rate": 3},
            path="spec.pacing",
        )
    assert caught.value.errors == [
        "spec.pacing.rate: unknown key (expected one of cps, max_live_calls, max_call_duration,"
        " burst)",
        "spec.pacing.max_live_calls: 'many' is not a whole number",
        'spec.pacing.max_call_duration: "5x" is not a duration',
        "spec.pacing.cps: must be > 0 and <= 1000, got 0.0",
        "spec.pacing.burst: must be at least 1, got 0",
    ]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"cps": True}, "pacing.cps: True is not a number"),
        ({"cps": float("nan")}, "pacing.cps: nan is not a number"),
        ({"cps": 1001}, "pacing.cps: must be > 0 and <= 1000, got 1001.0"),
        ({"max_live_calls": 2.5}, "pacing.max_live_calls: 2.5 is not a whole number"),
        ({"max_call_duration": "0s"}, "pacing.max_call_duration: must be longer than 0s"),
        (
            [1, 2],
            "pacing: must be a mapping with keys cps, max_live_calls, max_call_duration, burst",
        ),
    ],
)
def test_invalid_values_are_named(block: object, message: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        PacingLimits.from_dict(block)
    assert caught.value.errors == [message]


def test_direct_construction_enforces_the_same_invariants() -> None:
    with pytest.raises(SpecInvalid, match="max_live_calls"):
        PacingLimits(max_live_calls=0)


@pytest.mark.parametrize(("cps", "interval"), [(10, 102.5), (1, 1025), (0.1, 10250), (1000, 1.025)])
def test_emission_interval_is_one_second_and_its_jitter_slack_per_cps(
    cps: float, interval: float
) -> None:
    assert emission_interval_ms(cps) == pytest.approx(interval)


@given(st.floats(min_value=0.001, max_value=1000))
def test_emission_interval_never_allows_more_than_cps(cps: float) -> None:
    assert 1000 / emission_interval_ms(cps) < cps


def test_burst_becomes_gcra_tolerance() -> None:
    assert PacingLimits(cps=20).tolerance_ms == 0
    limits = PacingLimits(cps=20, burst=5)
    assert (limits.interval_ms, limits.tolerance_ms) == (51.25, 205)


DIALED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_deadline_adds_ring_longest_amd_timer_talk_and_margin() -> None:
    deadline = attempt_deadline(
        DIALED,
        ring_timeout=timedelta(seconds=60),
        max_call_duration=timedelta(minutes=30),
        amd_timers_ms={"noSpeechTimeoutMs": 5000, "toneTimeoutMs": 45000},
        margin=timedelta(minutes=2),
    )
    assert deadline == DIALED + timedelta(seconds=60 + 45 + 30 * 60 + 120)


def test_deadline_counts_savg_default_for_timers_the_spec_leaves_out() -> None:
    # toneTimeoutMs defaults to 20 s at SAVG even when the spec sets only shorter timers.
    deadline = attempt_deadline(
        DIALED,
        ring_timeout=timedelta(0),
        max_call_duration=timedelta(0),
        amd_timers_ms={"decisionTimeoutMs": 1000},
        margin=timedelta(0),
    )
    assert deadline == DIALED + timedelta(seconds=20)


def test_deadline_refuses_naive_dial_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        attempt_deadline(
            DIALED.replace(tzinfo=None),
            ring_timeout=timedelta(0),
            max_call_duration=timedelta(0),
            amd_timers_ms={},
            margin=timedelta(0),
        )


def test_budget_tops_the_queue_up_to_the_horizon() -> None:
    assert dispatch_budget(cps=10, live_calls=0, max_live_calls=1000, horizon_s=5, queued=20) == 30


def test_budget_never_exceeds_free_live_call_slots() -> None:
    assert dispatch_budget(cps=100, live_calls=45, max_live_calls=50, horizon_s=5, queued=2) == 3


def test_slow_campaign_still_claims_one_contact() -> None:
    assert dispatch_budget(cps=0.1, live_calls=0, max_live_calls=5, horizon_s=2, queued=0) == 1


def test_lowered_cap_below_live_calls_gives_zero_not_negative() -> None:
    assert dispatch_budget(cps=10, live_calls=80, max_live_calls=50, horizon_s=5, queued=3) == 0


def test_a_full_trunk_queues_nothing_and_a_freed_slot_one_attempt() -> None:
    common = {"cps": 50, "live_calls": 0, "max_live_calls": 100, "horizon_s": 2, "queued": 0}
    assert dispatch_budget(**common) == 100
    assert dispatch_budget(**common, trunk=TrunkShare(room=0)) == 0
    assert dispatch_budget(**common, trunk=TrunkShare(room=-4)) == 0  # a lowered trunk cap
    assert dispatch_budget(**common, trunk=TrunkShare(room=1)) == 1
    assert dispatch_budget(**common, trunk=TrunkShare(room=1000)) == 100


def test_a_slower_trunk_sets_the_work_ahead() -> None:
    common = {"live_calls": 0, "max_live_calls": 100, "horizon_s": 2, "queued": 0}
    assert dispatch_budget(cps=20, **common, trunk=TrunkShare(cps=5)) == 10
    assert dispatch_budget(cps=2, **common, trunk=TrunkShare(cps=5)) == 4  # the campaign's own
    assert dispatch_budget(cps=20, **common, trunk=TrunkShare(cps=0.2)) == 1  # still moves


@given(
    st.floats(min_value=0.01, max_value=1000),
    st.integers(0, 500),
    st.integers(1, 500),
    st.floats(min_value=0.1, max_value=60),
    st.integers(0, 5000),
    st.none() | st.integers(-50, 500),
    st.none() | st.floats(min_value=0.01, max_value=1000),
)
def test_budget_keeps_live_plus_queued_within_the_cap(
    cps: float,
    live: int,
    cap: int,
    horizon: float,
    queued: int,
    trunk_room: int | None,
    trunk_cps: float | None,
) -> None:
    trunk = TrunkShare(cps=trunk_cps, room=trunk_room)
    budget = dispatch_budget(cps, live, cap, horizon, queued, trunk=trunk)
    assert budget >= 0
    assert budget == 0 or live + queued + budget <= cap
    assert budget == 0 or queued + budget <= min(cps, trunk_cps or cps) * horizon + 1
    assert trunk_room is None or budget <= max(trunk_room, 0)


def test_silent_deadline_is_the_full_deadline_without_talk_time() -> None:
    common = {
        "ring_timeout": timedelta(seconds=60),
        "amd_timers_ms": {"toneTimeoutMs": 45000},
        "margin": timedelta(seconds=30),
    }
    silent = silent_deadline(DIALED, **common)  # type: ignore[arg-type]
    full = attempt_deadline(DIALED, max_call_duration=timedelta(minutes=30), **common)  # type: ignore[arg-type]

    assert silent == DIALED + timedelta(seconds=60 + 45 + 30)
    assert full - silent == timedelta(minutes=30)


def test_idle_ticks_back_off_to_the_cap_and_work_resets_the_interval() -> None:
    waits = [0.1]
    for _ in range(6):
        waits.append(tick_wait(waits[-1], True, 0.1, 1.0))
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert tick_wait(1.0, False, 0.1, 1.0) == 0.1
    assert tick_wait(0.1, True, 0.5, 0.2) == 0.5  # a cap below the interval never ticks faster


def test_a_ticket_comes_back_just_before_its_slot_and_a_refusal_after_its_retry_after() -> None:
    rng = random.Random(1)
    assert retry_countdown(1.0, ticket=True, rng=rng) == pytest.approx(1.0 - TICKET_LEAD_S)
    assert retry_countdown(0.01, ticket=True, rng=rng) == 0.0  # its slot is now: at once
    refused = [retry_countdown(0.2, ticket=False, rng=rng) for _ in range(50)]
    assert all(0.2 <= c <= 0.2 + RETRY_JITTER_S for c in refused)
    assert len(set(refused)) > 1  # spread, not all together
