import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.backoff import Backoff

MINUTE = timedelta(minutes=1)


def test_explicit_delays_are_used_in_order_and_the_last_repeats() -> None:
    schedule = Backoff.fixed((2 * MINUTE, 10 * MINUTE, 30 * MINUTE))
    rng = random.Random(0)
    assert [schedule.delay(n, rng) for n in range(5)] == [
        2 * MINUTE,
        10 * MINUTE,
        30 * MINUTE,
        30 * MINUTE,
        30 * MINUTE,
    ]


def test_exponential_grows_by_factor_until_the_cap() -> None:
    schedule = Backoff.exponential(base=MINUTE, cap=30 * MINUTE, factor=2)
    rng = random.Random(0)
    assert [schedule.delay(n, rng) for n in range(7)] == [
        MINUTE,
        2 * MINUTE,
        4 * MINUTE,
        8 * MINUTE,
        16 * MINUTE,
        30 * MINUTE,
        30 * MINUTE,
    ]


def test_exponential_far_past_float_range_is_the_cap_not_an_overflow() -> None:
    schedule = Backoff.exponential(base=MINUTE, cap=timedelta(days=1), factor=10)
    assert schedule.delay(100_000, random.Random(0)) == timedelta(days=1)


def test_a_zero_base_stays_zero() -> None:
    schedule = Backoff.exponential(base=timedelta(0), cap=MINUTE)
    assert schedule.delay(50, random.Random(0)) == timedelta(0)


def test_unjittered_schedules_leave_the_rng_untouched() -> None:
    rng = random.Random(7)
    state = rng.getstate()
    Backoff.fixed((MINUTE,)).delay(3, rng)
    Backoff.exponential(base=MINUTE, cap=10 * MINUTE).delay(3, rng)
    assert rng.getstate() == state


@given(n=st.integers(min_value=0, max_value=40), seed=st.integers())
def test_jitter_stays_within_the_fraction_the_cap_and_whole_milliseconds(n: int, seed: int) -> None:
    schedule = Backoff.exponential(base=MINUTE, cap=30 * MINUTE, jitter=0.2)
    scheduled = min(MINUTE * 2 ** min(n, 5), 30 * MINUTE)
    delay = schedule.delay(n, random.Random(seed))
    assert scheduled * 0.8 - timedelta(milliseconds=1) <= delay <= 30 * MINUTE
    assert delay <= scheduled * 1.2 + timedelta(milliseconds=1)
    assert delay % timedelta(milliseconds=1) == timedelta(0)


def test_jitter_spreads_retries_and_is_reproducible_from_the_seed() -> None:
    schedule = Backoff.exponential(base=10 * MINUTE, cap=timedelta(hours=1), jitter=0.2)
    first = [schedule.delay(0, random.Random(seed)) for seed in range(20)]
    again = [schedule.delay(0, random.Random(seed)) for seed in range(20)]
    assert first == again
    assert len(set(first)) > 10


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "either a list of delays or a base"),
        ({"delays": (MINUTE,), "base": MINUTE, "cap": MINUTE}, "either a list of delays or a base"),
        ({"delays": (-MINUTE,)}, "must not be negative"),
        ({"base": MINUTE}, "0 <= base <= cap"),
        ({"base": 2 * MINUTE, "cap": MINUTE}, "0 <= base <= cap"),
        ({"base": MINUTE, "cap": MINUTE, "factor": 0.5}, "factor must be at least 1"),
        ({"base": MINUTE, "cap": MINUTE, "jitter": 1.0}, "less than 1"),
        ({"delays": (MINUTE,), "jitter": 0.1}, "only an exponential backoff has jitter"),
    ],
)
def test_inconsistent_schedules_cannot_be_built(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**fields)


def test_a_negative_retry_index_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Backoff.fixed((MINUTE,)).delay(-1, random.Random(0))


def test_backoff_block_defaults_are_filled_in() -> None:
    errors: list[str] = []
    schedule = Backoff.from_spec({"backoff": {"base": "1m"}}, "retry.outcomes.machine", errors)
    assert errors == []
    assert schedule == Backoff.exponential(base=MINUTE, cap=timedelta(days=1), factor=2, jitter=0)
    assert schedule.to_spec() == {
        "backoff": {"base": "1m", "factor": 2.0, "max": "1d", "jitter": 0.0}
    }


def test_default_cap_never_falls_below_a_long_base() -> None:
    errors: list[str] = []
    schedule = Backoff.from_spec({"backoff": {"base": "2d"}}, "r", errors)
    assert schedule is not None
    assert schedule.cap == timedelta(days=2)


@pytest.mark.parametrize(
    "schedule",
    [
        Backoff.fixed((timedelta(milliseconds=500), MINUTE, timedelta(hours=4))),
        Backoff.exponential(base=timedelta(seconds=90), cap=timedelta(hours=3), factor=1.5),
        Backoff.exponential(base=MINUTE, cap=30 * MINUTE, jitter=0.25),
    ],
)
def test_spec_form_reads_back_to_the_same_schedule(schedule: Backoff) -> None:
    errors: list[str] = []
    assert Backoff.from_spec(schedule.to_spec(), "r", errors) == schedule
    assert errors == []
