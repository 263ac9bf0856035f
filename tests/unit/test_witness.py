"""The pacing witness's pure parts: which crowded seconds the engine answers for, and which
attempt a placed call carried."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.witness import attempt_of, delays, late_free_windows, witness
from campaign.clock import utcnow
from campaign.domain import tokens
from campaign.errors import NotFound

SLACK_S = 0.025
SECRETS = ["s" * 32]


def test_calls_more_than_a_second_apart_per_cps_crowd_nothing() -> None:
    placed = [(0.0, 0.001), (0.5, 0.001), (1.0, 0.001), (1.5, 0.001)]

    assert late_free_windows(placed, 2, SLACK_S) == []


def test_a_crowded_second_of_prompt_calls_is_the_engines() -> None:
    placed = [(0.0, 0.001), (0.4, 0.001), (0.8, 0.02), (2.0, 0.0)]

    assert late_free_windows(placed, 2, SLACK_S) == [0.0]


def test_one_call_delayed_past_the_slack_excuses_its_window_only() -> None:
    placed = [(0.0, 0.001), (0.4, 0.2), (0.8, 0.001), (5.0, 0.0), (5.1, 0.0), (5.2, 0.0)]

    assert late_free_windows(placed, 2, SLACK_S) == [5.0]


def test_a_call_delayed_exactly_by_the_slack_excuses_nothing() -> None:
    assert late_free_windows([(0.0, 0.0), (0.1, SLACK_S), (0.2, 0.0)], 2, SLACK_S) == [0.0]


def test_an_unknown_delay_excuses_nothing() -> None:
    assert late_free_windows([(0.0, None), (0.1, None), (0.2, None)], 2, SLACK_S) == [0.0]


@pytest.mark.parametrize(("cps", "crowded"), [(2.5, [0.0]), (3.0, [])])
def test_a_fractional_rate_allows_its_whole_calls_per_second(
    cps: float, crowded: list[float]
) -> None:
    placed = [(0.1 * i, 0.0) for i in range(3)]

    assert late_free_windows(placed, cps, SLACK_S) == crowded


def test_delays_are_placements_after_their_marks_in_order_of_placement() -> None:
    calls = [
        {"placed_at": 2.0, "notifyurl": "u2"},
        {"placed_at": 1.0, "notifyurl": "u1"},
        {"placed_at": 3.0, "notifyurl": "u3"},
    ]

    assert delays(calls, {"u1": 0.75, "u2": 1.5}) == [(1.0, 0.25), (2.0, 0.5), (3.0, None)]


def test_the_witness_counts_the_engines_windows_only_when_it_has_the_marks() -> None:
    calls = [{"placed_at": 0.1 * i, "notifyurl": f"u{i}", "number": f"{i}"} for i in range(3)]
    marks = {"u0": 0.0, "u1": 0.05, "u2": 0.2}  # the second call 50 ms on the way
    stats = {"peak_concurrent": 1}

    assert witness(calls, stats, 2, 5).late_free_windows is None  # the baseline: no marks
    assert witness(calls, stats, 2, 5, marks=marks).late_free_windows == 0
    assert witness(calls, stats, 2, 5, marks={"u1": 0.1}).late_free_windows == 1


def test_the_attempt_of_a_call_is_the_one_its_notify_token_names() -> None:
    token = tokens.sign(42, SECRETS[0], expires_at=utcnow() + timedelta(hours=1))

    assert attempt_of({"notifyurl": f"http://127.0.0.1:8000/notify/{token}"}, SECRETS) == 42


def test_a_call_with_a_forged_token_names_no_attempt() -> None:
    with pytest.raises(NotFound):
        attempt_of({"notifyurl": "http://127.0.0.1:8000/notify/42.99999999.forged"}, SECRETS)
