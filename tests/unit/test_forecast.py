"""The forecast model: windows, pacing, live calls, retries and caps move the finish as the engine
would; what never finishes says why; the same seed gives the same forecast."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from campaign.domain.calling_window import CallingWindow
from campaign.domain.forecast import ContactGroup, Plan, forecast
from campaign.domain.forecast_mix import Assumptions, Beliefs, Observations
from campaign.domain.outcomes import OutcomeClass as C
from campaign.domain.retry_policy import RetryPolicy

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday
NO_REDIALS = RetryPolicy.from_dict({"outcomes": {"unavailable": None, "gateway_error": None}})


def beliefs(mix: dict[C, float], hold_s: float = 10.0, seen: int = 100_000) -> Beliefs:
    """Beliefs as sure as `seen` calls make them: `mix` for every attempt, calls of `hold_s`."""
    observed = Observations(
        mix={1: {c: p * seen for c, p in mix.items()}},
        occupancy_s={c: (hold_s, float(seen)) for c in C},
        calls=seen,
    )
    return Beliefs(Assumptions.for_calls(timedelta(seconds=30), timedelta(minutes=2)), observed)


def run(
    *,
    window: CallingWindow | None = None,
    policy: RetryPolicy = NO_REDIALS,
    cps: float = 1.0,
    live: int = 1000,
    mix: dict[C, float] | None = None,
    hold_s: float = 10.0,
    groups: list[ContactGroup] | None = None,
    seed: int = 1,
    zone: str = "UTC",
) -> dict[str, Any]:
    plan = Plan(window or CallingWindow(), policy, cps, live, timedelta(seconds=30), ZoneInfo(zone))
    result = forecast(
        plan,
        [ContactGroup(("UTC",), 1000)] if groups is None else groups,
        beliefs(mix or {C.HUMAN: 1.0}, hold_s),
        now=NOW,
        rng=random.Random(seed),
    )
    return result.to_dict()


def finish(data: dict[str, Any], key: str = "p50") -> datetime:
    return datetime.fromisoformat(data["finish_utc"][key])


def test_pace_alone_sets_the_finish_and_every_contact_is_one_call() -> None:
    data = run(cps=2.0)

    assert data["calls_remaining"] == {"p50": 1000, "p90": 1000}
    assert data["contacts_reached"] == {"p50": 1000, "p90": 1000}
    # 1000 calls at 2/s: the last goes out after 500 s and lasts 10 s.
    assert abs((finish(data) - NOW).total_seconds() - 510) < 10
    assert data["limited_by"] == "pace"
    assert data["never_finishes"] == []


def test_a_window_that_closes_for_the_night_pushes_the_finish_to_the_next_morning() -> None:
    closes_at_five = CallingWindow.from_dict(
        {"timezone": "UTC", "hours": {"mon-sun": "09:00-15:10"}}
    )

    open_all_day = run()
    nightly = run(window=closes_at_five)

    assert finish(open_all_day) < NOW + timedelta(hours=1)
    # Until 15:09:30 (the ring time must fit) 570 calls go out, the other 430 from 09:00.
    assert finish(nightly).date() == date(2026, 3, 3)
    assert abs((finish(nightly) - datetime(2026, 3, 3, 9, 7, 20, tzinfo=UTC)).total_seconds()) < 30
    assert [(d["date"], d["calls"]) for d in nightly["by_day"]] == [
        ("2026-03-02", 570),
        ("2026-03-03", 430),
    ]
    assert nightly["limited_by"] == "windows"


def test_a_binding_live_call_cap_and_a_binding_pace_name_themselves() -> None:
    live_bound = run(cps=10.0, live=5, hold_s=10.0)  # 5 calls of 10 s (+0.1 s lag): 0.5/s
    pace_bound = run(cps=0.25, live=5, hold_s=10.0)

    assert live_bound["limited_by"] == "live calls"
    assert pace_bound["limited_by"] == "pace"
    assert abs((finish(live_bound) - NOW).total_seconds() - 2020) < 30


def test_retries_raise_the_calls_and_the_outcome_shares_follow_the_mix() -> None:
    busy_redialed = RetryPolicy.from_dict(
        {"max_attempts": 3, "outcomes": {"busy": {"delays": ["1m", "1m"]}}}
    )
    half_busy = {C.HUMAN: 0.5, C.BUSY: 0.5}

    once = run(mix=half_busy)
    redialed = run(mix=half_busy, policy=busy_redialed)

    assert once["calls_remaining"]["p50"] == 1000
    # 1000 + 500 + 250 calls expected; the last busy after three attempts is final.
    assert 1700 <= redialed["calls_remaining"]["p50"] <= 1800
    assert redialed["outcomes"] == {"busy": 0.5, "human": 0.5}
    assert 850 <= redialed["contacts_reached"]["p50"] <= 900
    assert finish(redialed) > finish(once)


def test_long_retry_delays_are_what_the_campaign_waits_for() -> None:
    policy = RetryPolicy.from_dict({"outcomes": {"busy": {"delays": ["4h"]}}})

    data = run(mix={C.HUMAN: 0.5, C.BUSY: 0.5}, cps=10.0, policy=policy)

    assert data["limited_by"] == "retry delays"
    assert finish(data) > NOW + timedelta(hours=4)


def test_a_per_day_cap_holds_redials_until_the_next_local_day() -> None:
    policy = RetryPolicy.from_dict(
        {"max_attempts": 3, "per_day": 1, "outcomes": {"busy": {"delays": ["1m", "1m"]}}}
    )

    data = run(mix={C.BUSY: 1.0}, cps=10.0, policy=policy)

    assert data["calls_remaining"]["p50"] == 3000
    assert [d["date"] for d in data["by_day"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert data["limited_by"] == "frequency caps"


def test_a_window_that_never_opens_again_lands_in_never_finishes() -> None:
    window = CallingWindow.from_dict(
        {"timezone": "contact", "hours": {"mon-sun": "09:00-17:00"}, "end": "2026-03-02T16:00:00Z"}
    )
    groups = [ContactGroup(("Asia/Tokyo",), 50), ContactGroup(("Europe/London",), 70)]

    data = run(window=window, groups=groups)

    # Tokyo is past 17:00 until the campaign ends; London calls until 16:00 UTC.
    assert data["never_finishes"] == [{"contacts": 50, "why": "campaign ends first"}]
    assert data["calls_remaining"]["p50"] == 70
    assert finish(data) < datetime(2026, 3, 2, 15, 2, tzinfo=UTC)


def test_closed_for_good_without_an_end_date_reads_window_never_opens() -> None:
    every_day_blacked_out = frozenset(date(2026, 3, 2) + timedelta(days=d) for d in range(500))
    window = CallingWindow(blackout=every_day_blacked_out, timezone_mode="UTC")

    data = run(window=window)

    assert data["never_finishes"] == [{"contacts": 1000, "why": "calling window never opens again"}]
    assert data["calls_remaining"]["p50"] == 0


def test_calls_in_flight_end_without_new_calls_and_count_as_reached() -> None:
    data = run(groups=[ContactGroup(("UTC",), 40, in_flight=True, dials=1)])

    assert data["calls_remaining"]["p50"] == 0
    assert data["contacts_reached"]["p50"] == 40
    assert finish(data) <= NOW + timedelta(seconds=10)


def test_contacts_due_later_wait_for_their_due_time() -> None:
    data = run(groups=[ContactGroup(("UTC",), 10, due_in_s=3600.0)], cps=10.0)

    assert NOW + timedelta(hours=1) < finish(data) < NOW + timedelta(hours=1, minutes=1)


def test_the_same_seed_gives_the_same_forecast_and_another_seed_another() -> None:
    mix = {C.HUMAN: 0.6, C.BUSY: 0.4}
    policy = RetryPolicy.from_dict({"outcomes": {"busy": {"delays": ["1m", "5m"]}}})

    first = run(mix=mix, policy=policy, seed=7)
    again = run(mix=mix, policy=policy, seed=7)
    other = run(mix=mix, policy=policy, seed=8)

    assert first == again
    assert first["finish"] != other["finish"]


def test_times_are_given_in_the_campaign_zone_and_in_utc() -> None:
    data = run(zone="America/New_York")

    assert data["timezone"] == "America/New_York"
    assert data["finish"]["p50"].endswith("-05:00")
    assert data["finish_utc"]["p50"].endswith("+00:00")
    assert datetime.fromisoformat(data["finish"]["p50"]) == finish(data)
    assert data["as_of"] == "2026-03-02T10:00:00-05:00"


def test_a_window_across_the_spring_dst_change_opens_at_local_nine() -> None:
    # New York springs forward on 2026-03-08: 09:00 local is 14:00 UTC before, 13:00 after.
    window = CallingWindow.from_dict({"timezone": "contact", "hours": {"mon-sun": "09:00-09:10"}})
    groups = [ContactGroup(("America/New_York",), 600 * 7)]

    data = run(window=window, groups=groups, cps=1.0, zone="America/New_York")

    days = {d["date"]: d["calls"] for d in data["by_day"]}
    assert days["2026-03-08"] == days["2026-03-07"] == 570
    assert finish(data).astimezone(ZoneInfo("America/New_York")).hour == 9


def test_the_basis_is_assumed_until_enough_calls_were_seen() -> None:
    assumptions = Assumptions.for_calls(timedelta(seconds=60), timedelta(minutes=30))
    few = Observations(mix={1: {C.HUMAN: 5.0}}, calls=5)
    many = Observations(mix={1: {C.HUMAN: 500.0}}, calls=500)

    assert Beliefs(assumptions, few).basis == "assumed"
    assert Beliefs(assumptions, many).basis == "observed"
    assert Beliefs(assumptions, many).expected().for_attempt(1)[C.HUMAN] > 0.98
    plan = Plan(CallingWindow(), NO_REDIALS, 1.0, 10, timedelta(seconds=60), ZoneInfo("UTC"))
    data = forecast(
        plan,
        [ContactGroup(("UTC",), 10)],
        Beliefs(assumptions, few),
        now=NOW,
        rng=random.Random(1),
        notes=["as if started now"],
    ).to_dict()
    assert data["basis"] == "assumed"
    assert data["assumptions"][0] == "as if started now"
    assert any(a.startswith("outcome mix human 35%") for a in data["assumptions"])


@pytest.mark.parametrize("seen", [0, 40, 4000])
def test_fewer_calls_seen_give_a_wider_band(seen: int) -> None:
    plan = Plan(CallingWindow(), NO_REDIALS, 1.0, 10, timedelta(seconds=30), ZoneInfo("UTC"))
    observed = Observations(
        mix={1: {C.HUMAN: 0.5 * seen, C.MACHINE: 0.5 * seen}} if seen else {},
        occupancy_s={C.HUMAN: (60.0, seen / 2), C.MACHINE: (60.0, seen / 2)} if seen else {},
        calls=seen,
    )
    assumed = Assumptions.for_calls(timedelta(seconds=30), timedelta(minutes=2))
    data = forecast(
        plan,
        [ContactGroup(("UTC",), 200)],
        Beliefs(assumed, observed),
        now=NOW,
        rng=random.Random(3),
    ).to_dict()
    band = (finish(data, "p90") - finish(data, "p10")).total_seconds()

    # 200 calls, 10 live of 60 s: 6 minutes (a rate of 1/s would allow 200 s).
    assert data["limited_by"] == "live calls"
    widths = {0: (60, 3000), 40: (20, 400), 4000: (0, 60)}
    low, high = widths[seen]
    assert low <= band <= high


def test_nothing_left_to_do_finishes_now() -> None:
    data = run(groups=[])

    assert data["finish_utc"]["p50"] == NOW.isoformat()
    assert data["calls_remaining"] == {"p50": 0, "p90": 0}
    assert data["limited_by"] is None
    assert data["outcomes"] == {}


@pytest.mark.parametrize(("dialed_hours_ago", "next_call_day"), [(20, 2), (1, 3)])
def test_a_per_day_cap_reads_the_local_day_of_the_last_call(
    dialed_hours_ago: int, next_call_day: int
) -> None:
    policy = RetryPolicy.from_dict(
        {"max_attempts": 3, "per_day": 1, "outcomes": {"busy": {"delays": ["1m", "1m"]}}}
    )
    last_call = -3600.0 * dialed_hours_ago
    called = ContactGroup(
        ("UTC",), 10, dials=1, counted=1, endings={C.BUSY: 1}, last_dial_s=last_call
    )

    data = run(groups=[called], policy=policy, cps=10.0)

    # Called yesterday: callable today (2 March); called today: not before 3 March.
    assert [d["date"] for d in data["by_day"]] == [f"2026-03-0{next_call_day}"]
