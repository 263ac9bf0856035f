"""Caller-ID pools: parsing and validation, round-robin fairness, local presence, the day."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from campaign.domain.caller_pool import CallerPool, caller_day, day_bounds, day_zone, parse_callers
from campaign.domain.spec import parse_spec
from campaign.errors import SpecInvalid

KENTUCKY = "+12706165788"  # 270: Kentucky
MANHATTAN = "+12125550100"  # 212: New York, NY
MANHATTAN_2 = "+12125550101"
CHICAGO = "+13125550100"  # 312: Chicago, IL
VANCOUVER = "+16045550100"  # 604: British Columbia (CA, also +1)
LONDON = "+442071838750"  # GB, area code 20
MANCHESTER = "+441614960000"  # GB, area code 161
LOS_ANGELES = "+13105550100"  # 310: America/Los_Angeles, like San Francisco's 415
MADRID = "+34911234567"  # ES: no area codes in the plan, one zone
BARCELONA = "+34931234567"
SYDNEY = "+61291234567"  # AU: area code 2, Australia/Sydney
PERTH = "+61891234567"  # AU: area code 8, Australia/Perth (and Adelaide)


def pool(doc: dict[str, object]) -> CallerPool:
    errors: list[str] = []
    parsed = parse_callers(doc, errors)
    assert errors == []
    assert parsed is not None
    return parsed


def problems(doc: dict[str, object]) -> list[str]:
    errors: list[str] = []
    assert parse_callers(doc, errors) is None
    return errors


def test_a_string_caller_is_a_pool_of_one_and_echoes_as_before() -> None:
    single = pool({"caller": "+12706165788"})
    assert single.numbers == ("+12706165788",)
    assert single.ranked("+12125550100", turn=5) == ("+12706165788",)
    assert not single.needs_turn
    assert single.to_dict() == {"caller": "+12706165788"}


def test_a_list_caller_echoes_with_its_strategy_and_cap_and_round_trips_through_the_spec() -> None:
    doc = {
        "name": "n",
        "gateway": {
            "bot": "b",
            "caller": [KENTUCKY, MANHATTAN],
            "caller_strategy": "local_presence",
            "max_calls_per_day": 300,
        },
    }
    spec = parse_spec(doc)
    echoed = spec.to_dict()["gateway"]
    assert echoed["caller"] == [KENTUCKY, MANHATTAN]
    assert echoed["caller_strategy"] == "local_presence"
    assert echoed["max_calls_per_day"] == 300
    assert parse_spec(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"caller": [KENTUCKY, "12125550100"]},
            'gateway.caller[1]: "12125550100" is not an E.164 number',
        ),
        ({"caller": [KENTUCKY, "+1 212 555 0100"]}, 'gateway.caller[1]: "+1 212 555 0100"'),
        ({"caller": ["+1555"]}, 'gateway.caller[0]: "+1555" is not an E.164 number'),
        ({"caller": [KENTUCKY, 12125550100]}, 'gateway.caller[1]: "12125550100"'),
        ({"caller": [KENTUCKY, KENTUCKY]}, 'gateway.caller[1]: "+12706165788" is listed twice'),
        ({"caller": []}, "gateway.caller: an empty list"),
        ({"caller": {"a": 1}}, "gateway.caller: must be a non-empty string or a list"),
        (
            {"caller": [KENTUCKY], "caller_strategy": "nearest"},
            'gateway.caller_strategy: "nearest" is not one of round_robin, local_presence',
        ),
        ({"caller": [KENTUCKY], "max_calls_per_day": 0}, 'gateway.max_calls_per_day: "0"'),
        ({"caller": [KENTUCKY], "max_calls_per_day": "50"}, 'gateway.max_calls_per_day: "50"'),
    ],
)
def test_a_bad_pool_is_refused_naming_the_bad_entry(doc: dict[str, object], expected: str) -> None:
    found = problems(doc)
    assert any(p.startswith(expected) for p in found), found


def test_every_bad_caller_is_reported_in_one_pass_through_the_spec() -> None:
    doc = {"name": "n", "gateway": {"bot": "b", "caller": ["+1", KENTUCKY, "tel:123"]}}
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(doc)
    assert [e.split(":")[0] for e in caught.value.errors] == [
        "gateway.caller[0]",
        "gateway.caller[2]",
    ]


def test_round_robin_gives_each_caller_an_equal_share_in_turn() -> None:
    numbers = [KENTUCKY, MANHATTAN, CHICAGO]
    rr = pool({"caller": numbers})
    firsts = [rr.ranked(LONDON, turn)[0] for turn in range(300)]
    assert firsts[:4] == [KENTUCKY, MANHATTAN, CHICAGO, KENTUCKY]
    assert Counter(firsts) == {n: 100 for n in numbers}
    assert sorted(rr.ranked(LONDON, 7)) == sorted(numbers)  # the rest follow, for the caps


def test_local_presence_prefers_the_same_us_area_code_then_the_country() -> None:
    lp = pool(
        {
            "caller": [VANCOUVER, KENTUCKY, CHICAGO, MANHATTAN, LONDON],
            "caller_strategy": "local_presence",
        }
    )
    assert lp.ranked("+12125559876", turn=0)[0] == MANHATTAN
    assert lp.ranked("+13125559876", turn=3)[0] == CHICAGO
    # No caller in 415 (San Francisco): a US caller first, round robin among them, then the rest.
    order = lp.ranked("+14155550123", turn=0)
    assert set(order[:3]) == {KENTUCKY, CHICAGO, MANHATTAN}
    assert set(order[3:]) == {VANCOUVER, LONDON}
    # Canada shares +1 with the US but is its own country.
    assert lp.ranked("+16045559876", turn=1)[0] == VANCOUVER


def test_local_presence_rotates_among_callers_of_the_same_area_code() -> None:
    lp = pool({"caller": [KENTUCKY, MANHATTAN, MANHATTAN_2], "caller_strategy": "local_presence"})
    firsts = Counter(lp.ranked("+12125559876", turn)[0] for turn in range(10))
    assert firsts == {MANHATTAN: 5, MANHATTAN_2: 5}


def test_local_presence_prefers_the_same_time_zone_when_no_area_code_matches() -> None:
    lp = pool({"caller": [MANHATTAN, CHICAGO, LOS_ANGELES], "caller_strategy": "local_presence"})
    for turn in range(3):  # San Francisco (415): no 415 caller, Los Angeles shares its zone
        assert lp.ranked("+14155550123", turn)[0] == LOS_ANGELES


def test_local_presence_outside_nanp_uses_area_codes_then_the_country() -> None:
    lp = pool(
        {
            "caller": [KENTUCKY, MANCHESTER, LONDON, BARCELONA, MADRID, SYDNEY, PERTH],
            "caller_strategy": "local_presence",
        }
    )
    assert lp.ranked("+442079460018", turn=1)[0] == LONDON  # area code 20
    assert lp.ranked("+441619460018", turn=0)[0] == MANCHESTER  # area code 161
    assert lp.ranked("+61298765432", turn=1)[0] == SYDNEY  # area code 2
    assert lp.ranked("+61898765432", turn=0)[0] == PERTH  # area code 8
    # Spain's plan has no area codes and one zone: its callers, in turn.
    firsts = {lp.ranked("+34915550000", turn)[0] for turn in range(2)}
    assert firsts == {MADRID, BARCELONA}
    # A UK mobile has no area code: the UK callers first.
    assert set(lp.ranked("+447400123456", turn=0)[:2]) == {LONDON, MANCHESTER}


def test_local_presence_without_a_match_falls_back_to_round_robin() -> None:
    lp = pool({"caller": [KENTUCKY, MANHATTAN], "caller_strategy": "local_presence"})
    firsts = [lp.ranked("+33142685300", turn)[0] for turn in range(4)]
    assert firsts == [KENTUCKY, MANHATTAN, KENTUCKY, MANHATTAN]
    assert lp.ranked("not a number", 1) == (MANHATTAN, KENTUCKY)


def test_a_callers_day_is_the_campaigns_day_exact_across_dst() -> None:
    assert day_zone("contact", "America/Chicago") == ZoneInfo("America/Chicago")
    assert day_zone("Europe/Paris", "UTC") == ZoneInfo("Europe/Paris")
    chicago = ZoneInfo("America/Chicago")
    # 03:00 UTC on 9 March is still 8 March in Chicago.
    assert caller_day(datetime(2026, 3, 9, 3, 0, tzinfo=UTC), chicago) == date(2026, 3, 8)
    start, end = day_bounds(date(2026, 3, 8), chicago)  # the spring-forward day: 23 hours
    assert (end - start).total_seconds() == 23 * 3600
    assert end.astimezone(UTC) == datetime(2026, 3, 9, 5, 0, tzinfo=UTC)
