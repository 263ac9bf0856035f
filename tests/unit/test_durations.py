from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.durations import format_duration, parse_duration, read_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("2s", timedelta(seconds=2)),
        ("1.5s", timedelta(milliseconds=1500)),
        ("0.1s", timedelta(milliseconds=100)),
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("4h", timedelta(hours=4)),
        ("1d", timedelta(days=1)),
        ("0s", timedelta(0)),
        (" 10m ", timedelta(minutes=10)),
        ("1.5ms", timedelta(microseconds=1500)),
    ],
)
def test_durations_with_a_unit_are_read_exactly(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5x", '"5x" is not a duration'),
        ("-1s", '"-1s" is not a duration'),
        ("30", '"30" is not a duration'),
        ("1w", '"1w" is not a duration'),
        ("10M", '"10M" is not a duration'),
        ("10 m", '"10 m" is not a duration'),
        ("1e3s", '"1e3s" is not a duration'),
        (".5s", '".5s" is not a duration'),
        ("", '"" is not a duration'),
        ("0.0000001s", '"0.0000001s" is not a duration'),
        ("99999999999d", '"99999999999d" is not a duration'),
        (30, "30 is not a duration"),
        (None, "null is not a duration"),
        (True, "true is not a duration"),
        (timedelta(seconds=1), "datetime.timedelta(seconds=1) is not a duration"),
    ],
)
def test_anything_but_a_non_negative_number_with_a_unit_is_refused_naming_the_value(
    value: object, message: str
) -> None:
    with pytest.raises(ValueError, match="is not a duration") as caught:
        parse_duration(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(minutes=10), "10m"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(seconds=90), "90s"),
        (timedelta(hours=48), "2d"),
        (timedelta(hours=36), "36h"),
        (timedelta(0), "0s"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(microseconds=1), "0.001ms"),
    ],
)
def test_format_picks_the_largest_unit_that_keeps_a_whole_number(
    duration: timedelta, text: str
) -> None:
    assert format_duration(duration) == text


def test_format_refuses_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@given(st.timedeltas(min_value=timedelta(0)))
def test_formatted_durations_read_back_to_the_same_value(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


def test_read_duration_records_the_problem_under_its_path() -> None:
    errors: list[str] = ["earlier problem"]
    assert read_duration("2m", "retry.min_gap", errors) == timedelta(minutes=2)
    assert read_duration("5x", "retry.outcomes.busy.delays[1]", errors) is None
    assert errors == ["earlier problem", 'retry.outcomes.busy.delays[1]: "5x" is not a duration']
