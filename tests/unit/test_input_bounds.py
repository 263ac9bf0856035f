"""Numbers are bounded by their digits before anything converts them; errors quote them short."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from campaign.domain.durations import parse_duration
from campaign.domain.spec import parse_spec
from campaign.errors import SpecInvalid

SPEC: dict[str, Any] = {
    "name": "bounds",
    "gateway": {"bot": "st-bot", "caller": "+12706165788"},
    "pacing": {"cps": 5, "max_live_calls": 10, "max_call_duration": "2m"},
    "retry": {"max_attempts": 3, "outcomes": {"busy": {"delays": ["2m"]}}},
}
HUGE = "1" + "0" * 250_000


def _spec(block: str, **values: object) -> dict[str, Any]:
    doc = copy.deepcopy(SPEC)
    doc[block] = {**doc[block], **values}
    return doc


def test_a_duration_of_a_quarter_million_digits_is_refused_with_a_short_message() -> None:
    with pytest.raises(ValueError, match="is not a duration") as caught:
        parse_duration(HUGE + "s")
    assert len(str(caught.value)) < 100


@pytest.mark.parametrize("text", ["1" * 19 + "ms", "1." + "5" * 16 + "s", "٥s"])
def test_a_duration_with_too_many_or_foreign_digits_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_the_longest_durations_a_timedelta_holds_still_read() -> None:
    assert parse_duration("86399999999999999ms").days == 999_999_999
    assert parse_duration("0.00000000125d").microseconds == 108


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (_spec("pacing", cps=10**4000), "pacing.cps"),
        (_spec("pacing", max_live_calls=10**30), "pacing.max_live_calls"),
        (_spec("retry", max_attempts=-(10**19)), "retry.max_attempts"),
        (_spec("gateway", metadata={"a": [1, {"b": 10**18}]}), "gateway.metadata.a[1].b"),
    ],
)
def test_spec_numbers_of_more_than_18_digits_are_refused_naming_the_path(
    doc: dict[str, Any], path: str
) -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(doc)
    (error,) = caught.value.errors
    assert error.startswith(f"{path}: a number of ")
    assert error.endswith("numbers have at most 18 digits")


def test_a_policy_duration_of_absurd_length_names_its_path_briefly() -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(_spec("pacing", max_call_duration=HUGE + "s"))
    (error,) = caught.value.errors
    assert error.startswith("pacing.max_call_duration: ")
    assert len(error) < 120


def test_gateway_timers_within_18_digits_still_meet_their_own_bound() -> None:
    with pytest.raises(SpecInvalid, match=r"gateway\.timeoutInMs: must be at most 86400000"):
        parse_spec(_spec("gateway", timeoutInMs=10**17))


def test_long_metadata_numbers_such_as_account_numbers_are_fine() -> None:
    spec = parse_spec(_spec("gateway", metadata={"account": 1234567890123456}))
    assert spec.gateway.metadata["account"] == 1234567890123456
