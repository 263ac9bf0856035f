"""Capacity maths: Little's law with pacing waits, trunk caps and headroom."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.capacity import (
    MIN_CONCURRENCY,
    CampaignRate,
    Sizing,
    advise,
    trunk_rates,
)


def test_threads_follow_littles_law_plus_one_waiting_thread_per_campaign() -> None:
    # 20/s held 0.5 s each: 10 threads busy, plus one waiting on the campaign's next slot.
    advice = advise([CampaignRate(1, 20)], Sizing(latency_s=0.48, overhead_s=0.02, headroom=1))
    assert advice.hold_s == pytest.approx(0.5)
    assert advice.busy_threads == pytest.approx(11)
    assert advice.concurrency == 11


def test_headroom_multiplies_the_busy_threads_and_rounds_up() -> None:
    advice = advise([CampaignRate(1, 20)], Sizing(latency_s=0.48, overhead_s=0.02, headroom=1.5))
    assert advice.concurrency == math.ceil(11 * 1.5)


def test_a_slow_campaign_waits_at_most_the_pacing_wait_not_a_whole_interval() -> None:
    # At 0.1/s a slot is 10 s away; the task re-schedules after 0.5 s instead of holding a thread.
    advice = advise(
        [CampaignRate(1, 0.1)], Sizing(latency_s=0, overhead_s=0, max_wait_s=0.5, headroom=1)
    )
    assert advice.busy_threads == pytest.approx(0.05)


def test_campaigns_on_one_trunk_are_capped_at_the_trunk_rate() -> None:
    rates = [CampaignRate(1, 30, "a"), CampaignRate(2, 30, "a"), CampaignRate(3, 5, "b")]
    assert trunk_rates(rates, trunk_cps=40) == {"a": 40, "b": 5}
    assert trunk_rates(rates, trunk_cps=None) == {"a": 60, "b": 5}
    advice = advise(rates, Sizing(latency_s=0.1, overhead_s=0, trunk_cps=40, headroom=1))
    assert advice.dial_rate == 45
    assert advice.busy_threads == pytest.approx(45 * 0.1 + 3)


def test_workers_split_the_threads_evenly_without_passing_the_per_worker_limit() -> None:
    advice = advise(
        [CampaignRate(1, 100)], Sizing(latency_s=0.29, overhead_s=0.01, headroom=1, per_worker=16)
    )
    assert advice.concurrency == 31
    assert advice.workers == 2
    assert advice.per_worker == 16


def test_no_running_campaign_still_keeps_one_worker_for_notifications() -> None:
    advice = advise([], Sizing(latency_s=0.2))
    assert (advice.dial_rate, advice.workers, advice.concurrency) == (0, 1, MIN_CONCURRENCY)
    assert advice.backlog_s(10) is None


def test_keda_list_length_lets_the_dispatchers_backlog_ask_for_every_needed_worker() -> None:
    advice = advise([CampaignRate(1, 100)], Sizing(latency_s=0.5, per_worker=16, horizon_s=2))
    # The dispatcher keeps at most rate × horizon = 200 tasks queued.
    assert math.ceil(100 * 2 / advice.keda_list_length) >= advice.workers
    assert advice.backlog_s(50) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "bad",
    [
        {"latency_s": -1},
        {"latency_s": 0.1, "headroom": 0.9},
        {"latency_s": 0.1, "per_worker": 0},
        {"latency_s": 0.1, "trunk_cps": 0},
        {"latency_s": 0.1, "horizon_s": 0},
    ],
)
def test_sizing_refuses_figures_that_cannot_be_right(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Sizing(**bad)  # type: ignore[arg-type]


def test_a_campaign_without_a_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="campaign 7"):
        advise([CampaignRate(7, 0)], Sizing(latency_s=0.1))


@given(
    cps=st.lists(st.floats(0.05, 500), min_size=1, max_size=6),
    latency=st.floats(0, 5),
    headroom=st.floats(1, 3),
    per_worker=st.integers(1, 64),
)
def test_provisioned_threads_always_cover_littles_law(
    cps: list[float], latency: float, headroom: float, per_worker: int
) -> None:
    rates = [CampaignRate(i, c) for i, c in enumerate(cps)]
    advice = advise(rates, Sizing(latency_s=latency, headroom=headroom, per_worker=per_worker))
    assert advice.workers * advice.per_worker >= advice.concurrency >= advice.busy_threads - 1e-6
    assert advice.busy_threads >= advice.dial_rate * advice.hold_s
    assert 1 <= advice.per_worker <= per_worker
    assert (advice.workers - 1) * per_worker < advice.concurrency
