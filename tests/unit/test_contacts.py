from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.contacts import (
    ContactRow,
    Rejection,
    _classify,
    normalise_phone,
    validate_row,
)


def check(row: dict[str, str | None], default_region: str | None = None) -> ContactRow | Rejection:
    return validate_row(row, default_region=default_region, fallback_zone="Europe/Paris")


def test_e164_number_gets_its_zone_and_region_from_the_number() -> None:
    assert check({"phone": "+1 415-555-0123"}) == ContactRow(
        phone="+14155550123", zones=("America/Los_Angeles",), country="US", region="US-CA"
    )


def test_national_number_is_read_in_the_default_region() -> None:
    row = check({"phone": "020 7946 0018"}, default_region="gb")
    assert isinstance(row, ContactRow)
    assert (row.phone, row.country) == ("+442079460018", "GB")


def test_country_column_overrides_the_default_region() -> None:
    row = check({"phone": "030 901820", "country": "DE"}, default_region="US")
    assert isinstance(row, ContactRow)
    assert (row.phone, row.zones) == ("+4930901820", ("Europe/Berlin",))


def test_country_is_the_numbers_own_region_not_the_default() -> None:
    row = check({"phone": "604 555 0123"}, default_region="US")
    assert isinstance(row, ContactRow)
    assert (row.country, row.zones) == ("CA", ("America/Vancouver",))


def test_number_mapped_to_several_zones_keeps_them_all() -> None:
    row = check({"phone": "+61 8 9123 4567"})
    assert isinstance(row, ContactRow)
    assert row.zones == ("Australia/Adelaide", "Australia/Perth")


def test_number_without_a_known_zone_gets_the_fallback() -> None:
    row = check({"phone": "+800 1234 5678"})  # international freephone: Etc/Unknown
    assert isinstance(row, ContactRow)
    assert (row.zones, row.country) == (("Europe/Paris",), "001")


def test_timezone_column_wins_and_is_spelt_canonically() -> None:
    row = check({"phone": "+14155550123", "timezone": " america/new_york "})
    assert isinstance(row, ContactRow)
    assert row.zones == ("America/New_York",)


def test_external_id_and_other_columns_are_kept_stripped_and_empty_ones_dropped() -> None:
    row = check(
        {
            "Phone": "+14155550123",
            "External_ID": " crm-7 ",
            " Name ": " Ann ",
            "note": "  ",
            "plan": None,
        }
    )
    assert isinstance(row, ContactRow)
    assert (row.external_id, row.metadata) == ("crm-7", {"Name": "Ann"})


def test_surplus_cells_from_csv_dictreader_are_ignored() -> None:
    row = validate_row(
        {"phone": "+14155550123", None: ["x", "y"]},  # type: ignore[dict-item]
        default_region=None,
        fallback_zone="UTC",
    )
    assert isinstance(row, ContactRow)
    assert row.metadata == {}


@pytest.mark.parametrize(
    ("row", "default_region", "rejection"),
    [
        ({"name": "Ann"}, None, Rejection("missing phone", "")),
        ({"phone": "   "}, None, Rejection("missing phone", "")),
        (
            {"phone": "2015550123"},
            None,
            Rejection("no country code and no default region", "2015550123"),
        ),
        (
            {"phone": "+44 20 1234"},
            "US",
            Rejection("not a valid number for region GB", "+44 20 1234"),
        ),
        ({"phone": "020 1234"}, "GB", Rejection("not a valid number for region GB", "020 1234")),
        ({"phone": "call me"}, "US", Rejection("not a phone number", "call me")),
        (
            {"phone": "+999 1234567"},
            None,
            Rejection("unknown country calling code", "+999 1234567"),
        ),
        (
            {"phone": "+1 415 555 0123 ext. 9"},
            None,
            Rejection("has an extension, which cannot be dialled", "+1 415 555 0123 ext. 9"),
        ),
        (
            {"phone": "+14155550123", "timezone": "Mars/Base"},
            None,
            Rejection('unknown time zone "Mars/Base"', "Mars/Base"),
        ),
        ({"phone": "4155550123", "country": "XX"}, "US", Rejection('unknown country "XX"', "XX")),
    ],
)
def test_bad_rows_are_rejected_with_an_operator_readable_reason(
    row: dict[str, str | None], default_region: str | None, rejection: Rejection
) -> None:
    assert check(row, default_region) == rejection


text = st.one_of(st.none(), st.text(max_size=40))
column = st.sampled_from(["phone", "timezone", "country", "external_id", "name", "PHONE"])


@given(
    st.dictionaries(st.one_of(column, st.text(max_size=10)), text),
    st.sampled_from([None, "US", "GB", "XX", "de"]),
)
def test_any_row_gives_a_result_and_never_raises(
    row: dict[str, str | None], region: str | None
) -> None:
    result = check(row, region)
    if isinstance(result, ContactRow):
        assert result.phone.startswith("+")
        assert result.zones
        assert phonenumbers.is_valid_number(phonenumbers.parse(result.phone))


phoneish = st.from_regex(r"\+?[0-9 ()-]{3,18}", fullmatch=True)


@given(phoneish, st.sampled_from(["US", "GB", "DE", "AU", "IN", "BR"]))
def test_one_region_search_agrees_with_the_public_phonenumbers_answers(
    raw: str, region: str
) -> None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return
    found_region, kind = _classify(number)
    assert kind == phonenumbers.number_type(number)
    assert (kind != phonenumbers.PhoneNumberType.UNKNOWN) == phonenumbers.is_valid_number(number)
    if phonenumbers.is_valid_number(number):
        assert found_region == phonenumbers.region_code_for_number(number)


@given(phoneish, st.sampled_from([None, "US", "GB"]))
def test_validation_accepts_exactly_the_numbers_is_valid_number_accepts(
    raw: str, region: str | None
) -> None:
    try:
        number = phonenumbers.parse(raw, region)
        valid = phonenumbers.is_valid_number(number) and not number.extension
    except phonenumbers.NumberParseException:
        valid = False
    assert isinstance(check({"phone": raw}, region), ContactRow) == valid


def test_dnc_numbers_normalise_to_e164() -> None:
    assert normalise_phone(" (415) 555-0123 ", "US") == "+14155550123"
    assert normalise_phone("+442079460018", None) == "+442079460018"


@pytest.mark.parametrize(
    ("raw", "region"),
    [("555-0123", "US"), ("4155550123", None), ("not a number", "US"), ("4155550123", "XX")],
)
def test_dnc_values_that_are_not_valid_numbers_normalise_to_none(
    raw: str, region: str | None
) -> None:
    assert normalise_phone(raw, region) is None


def test_region_and_consent_columns_feed_the_account_rules() -> None:
    row = check({"phone": "+1 305 555 0100", "region": "us-fl", "consent": "2026-03-01"})
    assert isinstance(row, ContactRow)
    assert (row.region, row.consent, str(row.consent_on)) == ("US-FL", True, "2026-03-01")
    for word, said in (("yes", True), ("FALSE", False), ("1", True), ("no", False)):
        row = check({"phone": "+1 305 555 0100", "consent": word})
        assert isinstance(row, ContactRow)
        assert (row.consent, row.consent_on) == (said, None)
    unsaid = check({"phone": "+800 1234 5678"})
    assert isinstance(unsaid, ContactRow)
    assert (unsaid.region, unsaid.consent) == (None, None)  # non-geographic: no country


def test_a_bad_region_or_consent_rejects_the_row_naming_the_value() -> None:
    assert check({"phone": "+13055550100", "region": "Florida"}) == Rejection(
        'region "Florida" is not a region code such as US or US-FL', "Florida"
    )
    assert check({"phone": "+13055550100", "region": "XX-FL"}) == Rejection(
        'region "XX-FL" is not a region code such as US or US-FL', "XX-FL"
    )
    assert check({"phone": "+13055550100", "consent": "maybe"}) == Rejection(
        'consent "maybe" is not true, false or a date (YYYY-MM-DD)', "maybe"
    )


def test_priority_column_is_read_as_a_whole_number_and_defaults_to_zero() -> None:
    for raw, expected in (("7", 7), (" -3 ", -3), ("+2", 2), ("100", 100), ("-100", -100)):
        row = check({"phone": "+14155550123", "priority": raw})
        assert isinstance(row, ContactRow)
        assert row.priority == expected
        assert "priority" not in row.metadata
    row = check({"phone": "+14155550123", "priority": ""})
    assert isinstance(row, ContactRow)
    assert row.priority == 0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("high", 'priority "high" is not a whole number (-100 to 100)'),
        ("2.5", 'priority "2.5" is not a whole number (-100 to 100)'),
        ("101", 'priority "101" is out of range (-100 to 100)'),
        ("-5000", 'priority "-5000" is out of range (-100 to 100)'),
    ],
)
def test_a_bad_priority_rejects_the_row_naming_the_value_and_the_range(
    raw: str, reason: str
) -> None:
    assert check({"phone": "+14155550123", "Priority": raw}) == Rejection(reason, raw)


@pytest.mark.parametrize(
    ("row", "region"),
    [
        ({"phone": "+13055550123"}, "US-FL"),  # Miami
        ({"phone": "+12125550123"}, "US-NY"),
        ({"phone": "+12025550123"}, "US-DC"),
        ({"phone": "+14165550123"}, "CA-ON"),  # Toronto: the number's country is CA, not US
        ({"phone": "+19025550123"}, "CA"),  # 902: Nova Scotia and Prince Edward Island share it
        ({"phone": "+18005550123"}, "US"),  # toll-free: no state
        ({"phone": "+13055550123", "region": "us-ga"}, "US-GA"),  # the row's region wins
        ({"phone": "+442079460018"}, "GB"),
    ],
)
def test_a_north_american_numbers_region_is_its_area_codes_state_or_province(
    row: dict[str, str | None], region: str
) -> None:
    result = check(row)
    assert isinstance(result, ContactRow)
    assert result.region == region
