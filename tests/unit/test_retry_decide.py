"""RetryPolicy.decide and earliest_allowed: each rule, DST days, random-history properties."""

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import Close, PastAttempt, Redial, RetryPolicy

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
BUSY, REJECTED = OutcomeClass.BUSY, OutcomeClass.REJECTED
POLICY = RetryPolicy.from_dict(
    {
        "max_attempts": 5,
        "outcomes": {
            "busy": {"delays": ["2m", "10m", "30m"]},
            "rejected": {"delays": ["1h"], "max": 2},
            "no_answer": {"delays": ["5m", "15m"], "max": 5},
        },
    }
)


def ended(
    *outcomes: OutcomeClass, last: datetime = NOW, every: timedelta = MINUTE
) -> list[PastAttempt]:
    """Attempts ending in `outcomes`, oldest first, the last at `last`, counted as POLICY says."""
    start = last - every * (len(outcomes) - 1)
    return [PastAttempt(start + every * i, o, POLICY.counts(o)) for i, o in enumerate(outcomes)]


def decide(
    policy: RetryPolicy, history: Sequence[PastAttempt], now: datetime = NOW
) -> Redial | Close:
    outcome = history[-1].outcome
    assert outcome is not None
    return policy.decide(outcome, history, now, NEW_YORK, random.Random(0))


def test_a_class_without_a_rule_closes_the_contact_as_done() -> None:
    assert decide(POLICY, ended(OutcomeClass.HUMAN)) == Close(
        "human: final, no redial rule for this outcome", exhausted=False
    )


@pytest.mark.parametrize(
    "outcome", [o for o in OutcomeClass if not POLICY.reads_history(o)], ids=str
)
def test_an_outcome_whose_history_is_not_read_decides_the_same_without_it(
    outcome: OutcomeClass,
) -> None:
    """A caller that skips loading the history when `reads_history` says so decides the same."""
    with_history = decide(POLICY, ended(BUSY, BUSY, outcome))
    assert POLICY.decide(outcome, [], NOW, NEW_YORK, random.Random(0)) == with_history


def test_lost_is_final_unless_listed() -> None:
    assert decide(POLICY, ended(OutcomeClass.LOST)) == Close(
        "lost: final, no redial rule for this outcome", exhausted=False
    )
    listed = RetryPolicy.from_dict({"outcomes": {"lost": {"delays": ["15m"]}}})
    assert decide(listed, ended(OutcomeClass.LOST)) == Redial(
        NOW + 15 * MINUTE, "lost: retry 1 of 1 in 15m"
    )


def test_each_retry_of_a_class_takes_the_next_delay_from_now() -> None:
    assert decide(POLICY, ended(BUSY)) == Redial(NOW + 2 * MINUTE, "busy: retry 1 of 3 in 2m")
    assert decide(POLICY, ended(BUSY, BUSY)) == Redial(
        NOW + 10 * MINUTE, "busy: retry 2 of 3 in 10m"
    )


def test_other_classes_do_not_advance_a_class_schedule() -> None:
    history = ended(REJECTED, OutcomeClass.NO_ANSWER, BUSY)
    assert decide(POLICY, history) == Redial(NOW + 2 * MINUTE, "busy: retry 1 of 3 in 2m")


def test_a_delays_list_shorter_than_max_repeats_its_last_delay() -> None:
    no_answer = OutcomeClass.NO_ANSWER
    assert decide(POLICY, ended(no_answer, no_answer, no_answer)) == Redial(
        NOW + 15 * MINUTE, "no_answer: retry 3 of 4 in 15m"
    )


def test_the_class_max_closes_the_contact_as_exhausted() -> None:
    assert decide(POLICY, ended(REJECTED, REJECTED)) == Close(
        "rejected: 2 attempts ended rejected, max 2", exhausted=True
    )
    assert decide(POLICY, ended(BUSY, BUSY, BUSY, BUSY)) == Close(
        "busy: 4 attempts ended busy, max 4", exhausted=True
    )


def test_max_attempts_counts_every_counted_class_together() -> None:
    history = ended(BUSY, REJECTED, BUSY, OutcomeClass.NO_ANSWER, BUSY)
    assert decide(POLICY, history) == Close(
        "busy: 5 counted attempts, max_attempts 5", exhausted=True
    )


def test_uncounted_back_pressure_neither_uses_nor_is_stopped_by_max_attempts() -> None:
    unavailable = OutcomeClass.UNAVAILABLE
    history = ended(BUSY, BUSY, BUSY, REJECTED, *[unavailable] * 5)
    assert sum(a.counted for a in history) == 4
    result = decide(POLICY, history)
    assert isinstance(result, Redial)
    assert result.reason.startswith("unavailable: retry 5 of 9 in ")


def test_the_default_back_pressure_rule_gives_up_after_ten() -> None:
    unavailable = OutcomeClass.UNAVAILABLE
    assert decide(POLICY, ended(*[unavailable] * 10)) == Close(
        "unavailable: 10 attempts ended unavailable, max 10", exhausted=True
    )


def test_jittered_delays_come_from_the_injected_rng() -> None:
    gateway_error = OutcomeClass.GATEWAY_ERROR
    history = ended(gateway_error, gateway_error)
    first = POLICY.decide(gateway_error, history, NOW, NEW_YORK, random.Random(3))
    again = POLICY.decide(gateway_error, history, NOW, NEW_YORK, random.Random(3))
    assert first == again
    assert isinstance(first, Redial)
    assert NOW + 1.6 * MINUTE <= first.at <= NOW + 2.4 * MINUTE


def test_a_history_without_the_ended_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="must include the attempt that just ended"):
        POLICY.decide(BUSY, ended(REJECTED), NOW, NEW_YORK, random.Random(0))


def test_min_gap_holds_a_short_delay_back_and_says_why() -> None:
    policy = RetryPolicy.from_dict({"min_gap": "10m", "outcomes": {"busy": {"delays": ["2m"]}}})
    history = ended(BUSY, last=NOW - MINUTE)
    assert decide(policy, history) == Redial(
        NOW + 9 * MINUTE,
        "busy: retry 1 of 1 in 2m, held by min_gap until 2026-05-04T10:09:00-04:00",
    )


def test_refused_dial_outs_are_not_calls_for_any_frequency_cap() -> None:
    policy = RetryPolicy.from_dict(
        {"min_gap": "1h", "per_day": 1, "outcomes": {"busy": {"delays": ["2m"]}}}
    )
    refused = PastAttempt(NOW - MINUTE, OutcomeClass.GATEWAY_ERROR, counted=False, placed=False)

    assert policy.earliest_allowed([refused], NOW, NEW_YORK) == NOW
    policy = RetryPolicy.from_dict({"min_gap": "1h", "outcomes": {"busy": {"delays": ["2m"]}}})
    busy = PastAttempt(NOW, BUSY, counted=True)
    assert decide(policy, [refused, busy]) == Redial(
        NOW + 60 * MINUTE,
        "busy: retry 1 of 1 in 2m, held by min_gap until 2026-05-04T11:00:00-04:00",
    )


def test_refused_dial_outs_count_only_toward_their_own_class_max() -> None:
    policy = RetryPolicy.from_dict(
        {"max_attempts": 1, "outcomes": {"gateway_error": {"delays": ["1m"], "max": 3}}}
    )
    refused = [
        PastAttempt(NOW - MINUTE * i, OutcomeClass.GATEWAY_ERROR, counted=False, placed=False)
        for i in (2, 1, 0)
    ]

    assert isinstance(decide(policy, refused[:2]), Redial)  # max_attempts 1 never sees them
    assert decide(policy, refused) == Close(
        "gateway_error: 3 attempts ended gateway_error, max 3", exhausted=True
    )


def test_a_dial_exactly_min_gap_after_the_last_is_allowed() -> None:
    policy = RetryPolicy(min_gap=10 * MINUTE)
    history = ended(BUSY)
    assert policy.earliest_allowed(history, NOW + 10 * MINUTE, NEW_YORK) == NOW + 10 * MINUTE


def test_per_week_waits_for_the_oldest_dial_in_the_window_to_age_out() -> None:
    policy = RetryPolicy(per_week=3)
    history = ended(BUSY, BUSY, BUSY, last=NOW, every=timedelta(days=1))
    assert policy.earliest_allowed(history, NOW, NEW_YORK) == NOW - timedelta(days=2) + timedelta(
        days=7
    )


def test_per_day_on_the_23_hour_day_waits_until_local_midnight() -> None:
    # 2026-03-08 in New York starts at 05:00 UTC (EST) and ends at 04:00 UTC next day (EDT).
    policy = RetryPolicy(per_day=2)
    history = [
        PastAttempt(datetime(2026, 3, 8, 6, 30, tzinfo=UTC), BUSY, True),  # 01:30 EST
        PastAttempt(datetime(2026, 3, 8, 7, 30, tzinfo=UTC), BUSY, True),  # 03:30 EDT
    ]
    candidate = datetime(2026, 3, 9, 3, 0, tzinfo=UTC)  # 23:00 EDT on the 8th
    assert policy.earliest_allowed(history, candidate, NEW_YORK) == datetime(
        2026, 3, 9, 4, 0, tzinfo=UTC
    )


def test_per_day_on_the_25_hour_day_counts_the_repeated_hour_and_the_late_evening() -> None:
    # 2026-11-01 in New York runs from 04:00 UTC (EDT) to 05:00 UTC next day (EST).
    policy = RetryPolicy(per_day=3)
    history = [
        PastAttempt(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), BUSY, True),  # 01:30 EDT
        PastAttempt(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), BUSY, True),  # 01:30 EST
        PastAttempt(datetime(2026, 11, 2, 4, 30, tzinfo=UTC), BUSY, True),  # 23:30 EST on the 1st
    ]
    candidate = datetime(2026, 11, 2, 4, 45, tzinfo=UTC)
    assert policy.earliest_allowed(history, candidate, NEW_YORK) == datetime(
        2026, 11, 2, 5, 0, tzinfo=UTC
    )


def test_per_day_reaches_a_day_whose_midnight_was_skipped_by_dst() -> None:
    # Santiago jumped from 2022-09-10 24:00 (-04) straight to 2022-09-11 01:00 (-03).
    santiago = ZoneInfo("America/Santiago")
    policy = RetryPolicy(per_day=1)
    history = [PastAttempt(datetime(2022, 9, 10, 20, 0, tzinfo=UTC), BUSY, True)]
    allowed = policy.earliest_allowed(history, datetime(2022, 9, 10, 21, 0, tzinfo=UTC), santiago)
    assert allowed == datetime(2022, 9, 11, 4, 0, tzinfo=UTC)
    assert allowed.astimezone(santiago).hour == 1


def test_decide_reports_a_per_day_hold_in_local_time() -> None:
    policy = RetryPolicy.from_dict({"per_day": 1, "outcomes": {"busy": {"delays": ["2m"]}}})
    result = decide(policy, ended(BUSY))
    assert result == Redial(
        datetime(2026, 5, 5, 4, 0, tzinfo=UTC),
        "busy: retry 1 of 1 in 2m, held by per_day until 2026-05-05T00:00:00-04:00",
    )


ZONES = st.sampled_from(
    [
        "UTC",
        "America/New_York",
        "America/Santiago",
        "America/Sao_Paulo",
        "Europe/London",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Chatham",
    ]
).map(ZoneInfo)
OUTCOMES = st.sampled_from(list(OutcomeClass))


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    return RetryPolicy.from_dict(
        {
            "max_attempts": draw(st.integers(1, 30)),
            "per_day": draw(st.none() | st.integers(1, 4)),
            "per_week": draw(st.none() | st.integers(1, 12)),
            "min_gap": draw(st.none() | st.sampled_from(["0s", "90s", "10m", "4h"])),
            "outcomes": {
                "busy": {"delays": ["2m", "10m", "30m"], "max": draw(st.integers(1, 8))},
                "no_answer": {"backoff": {"base": "1m", "factor": 3, "max": "1d", "jitter": 0.3}},
                "machine": {"delays": ["4h"], "counted": False},
            },
        }
    )


@st.composite
def histories(draw: st.DrawFn, now: datetime) -> list[PastAttempt]:
    ages = draw(st.lists(st.timedeltas(timedelta(0), timedelta(days=9)), min_size=1, max_size=25))
    return [
        PastAttempt(now - age, draw(st.none() | OUTCOMES), draw(st.booleans()))
        for age in sorted(ages, reverse=True)
    ]


def caps_broken(
    policy: RetryPolicy, history: Sequence[PastAttempt], t: datetime, zone: ZoneInfo
) -> bool:
    """A brute-force restatement of min_gap, per_day and per_week, to check the fast path."""
    dials = [a.at for a in history]
    day = t.astimezone(zone).date()
    return (
        (policy.min_gap is not None and any(t - d < policy.min_gap for d in dials))
        or (
            policy.per_day is not None
            and sum(d.astimezone(zone).date() == day for d in dials) >= policy.per_day
        )
        or (
            policy.per_week is not None
            and sum(d > t - timedelta(days=7) for d in dials) >= policy.per_week
        )
    )


NOWS = st.datetimes(datetime(2018, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))


@given(
    policy=policies(), zone=ZONES, outcome=OUTCOMES, seed=st.integers(), data=st.data(), now=NOWS
)
def test_decide_never_redials_before_now_nor_breaks_a_cap(
    policy: RetryPolicy,
    zone: ZoneInfo,
    outcome: OutcomeClass,
    seed: int,
    data: st.DataObject,
    now: datetime,
) -> None:
    history = [*data.draw(histories(now)), PastAttempt(now, outcome, policy.counts(outcome))]
    result = policy.decide(outcome, history, now, zone, random.Random(seed))
    if isinstance(result, Redial):
        assert result.at >= now
        assert result.at.tzinfo is UTC
        assert not caps_broken(policy, history, result.at, zone)


@given(
    policy=policies(),
    zone=ZONES,
    data=st.data(),
    now=NOWS,
    wait=st.timedeltas(timedelta(0), timedelta(days=2)),
)
def test_earliest_allowed_is_the_first_instant_that_keeps_every_cap(
    policy: RetryPolicy, zone: ZoneInfo, data: st.DataObject, now: datetime, wait: timedelta
) -> None:
    history = data.draw(histories(now))
    at = now + wait
    allowed = policy.earliest_allowed(history, at, zone)
    assert allowed >= at
    assert not caps_broken(policy, history, allowed, zone)
    assert allowed == at or caps_broken(policy, history, allowed - timedelta(microseconds=1), zone)
