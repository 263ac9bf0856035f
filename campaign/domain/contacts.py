"""One row of a contacts upload, checked and normalised before anything is stored.

Every row ends as a `ContactRow` (E.164 number, the time zones whose calling hours apply, the
operator's own columns) or a `Rejection` whose reason an operator can act on. Nothing here raises
on row content: a million-row upload reports its bad rows, it does not stop at the first.

Speed matters (a 1,000,000-row file must load at tens of thousands of rows per second), and most
of phonenumbers' cost is finding which region a number belongs to. `is_valid_number`,
`number_type`, `region_code_for_number` and `time_zones_for_number` each repeat that search, so
`_classify` runs it once and types the number once; `test_contacts` pins it to the public
functions' answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, PhoneNumberType

# Private, but it is the very function number_type() and is_valid_number() end in; using it lets
# one region search serve validity, type and region. Typed in phonenumbers' own stubs.
from phonenumbers.phonenumberutil import _number_type_helper
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_geographical_number

from campaign.domain.nanp_regions import subdivision
from campaign.domain.priority import DEFAULT_PRIORITY, parse_priority
from campaign.domain.regions import consent_of, region_code
from campaign.domain.window_spec import canonical_zone_name

_KNOWN_COLUMNS = frozenset(
    {"phone", "timezone", "external_id", "country", "region", "consent", "priority"}
)
_PARSE_REASONS = {
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short to be a phone number",
    NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
    NumberParseException.TOO_LONG: "too long to be a phone number",
}
# Zones of numbers not tied to a place (UK mobiles, say) depend on the calling code alone.
_COUNTRY_ZONES: dict[int, tuple[str, ...]] = {}


@dataclass(frozen=True)
class ContactRow:
    """A callable contact.

    `zones` is never empty: the row's own `timezone`, else every zone phonenumbers maps the
    number to (the calling window must be open in all of them), else the campaign's fallback.
    `country` is the number's own region (`CA` for +1 604…, even when read with default region
    `US`), or `001` for non-geographic numbers such as +800. `region` is what the account rules
    read: the row's `region` (`US-FL`), else the number's country (None for non-geographic
    numbers). `consent` is None when the row says nothing; `consent_on` the date it gave.
    `priority`: higher is called first among contacts due at once (`domain.priority`).
    """

    phone: str
    zones: tuple[str, ...]
    country: str
    external_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    consent: bool | None = None
    consent_on: date | None = None
    priority: int = DEFAULT_PRIORITY


@dataclass(frozen=True)
class Rejection:
    """Why a row was refused (`reason`, for the operator) and the raw value at fault."""

    reason: str
    value: str


def _classify(number: phonenumbers.PhoneNumber) -> tuple[str, int]:
    """(region, type) as `region_code_for_number` and `number_type` give them, in one search.

    The type is UNKNOWN exactly when `is_valid_number` is False.
    """
    region = phonenumbers.region_code_for_number(number)
    if region is None:
        return "", PhoneNumberType.UNKNOWN
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(number.country_code or 0, region)
    if metadata is None:
        return "", PhoneNumberType.UNKNOWN
    national = phonenumbers.national_significant_number(number)
    return region, _number_type_helper(national, metadata)


def _parse(raw: str, region: str | None) -> tuple[phonenumbers.PhoneNumber, str, int] | Rejection:
    """The number, its region and its type; or why it is not a number we can dial."""
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            if region is None and not raw.startswith("+"):
                return Rejection("no country code and no default region", raw)
            return Rejection("unknown country calling code", raw)
        return Rejection(_PARSE_REASONS.get(exc.error_type, "not a phone number"), raw)
    found_region, kind = _classify(number)
    if kind == PhoneNumberType.UNKNOWN:
        # An invalid number matches none of its calling code's regions: name the main one (GB
        # for +44), which is where the operator will look.
        where = phonenumbers.region_code_for_country_code(number.country_code or 0)
        return Rejection(f"not a valid number for region {where}", raw)
    if number.extension:
        return Rejection("has an extension, which cannot be dialled", raw)
    return number, found_region, kind


def _zones_for(number: phonenumbers.PhoneNumber, kind: int) -> tuple[str, ...]:
    """What `time_zones_for_number` answers, minus zones unknown to this machine's tz database."""
    code = number.country_code or 0  # always set once parse() succeeded
    if phonenumbers.is_number_type_geographical(kind, code):
        found = tuple(time_zones_for_geographical_number(number))
    elif code in _COUNTRY_ZONES:
        found = _COUNTRY_ZONES[code]
    else:
        found = _COUNTRY_ZONES[code] = tuple(phonenumbers.timezone.time_zones_for_number(number))
    return tuple(z for z in found if z != UNKNOWN_TIMEZONE and canonical_zone_name(z) == z)


def _region(value: str | None) -> str | Rejection | None:
    if value is None:
        return None
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return Rejection(f'unknown country "{value}"', value)
    return region


def validate_row(
    row: Mapping[str, str | None], *, default_region: str | None, fallback_zone: str
) -> ContactRow | Rejection:
    """Check one CSV row: `phone` (required), `timezone`, `external_id`, `country`, `region`,
    `consent`, `priority`; every other non-empty column becomes metadata.

    Values are stripped and an empty value counts as absent. `country` (ISO region) says how to
    read a number written without `+` and overrides `default_region`. Column names match
    case-insensitively; metadata keeps the operator's spelling. Never raises on row content.
    """
    values: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for key, raw in row.items():
        if not isinstance(key, str) or not isinstance(raw, str):
            continue  # csv.DictReader files surplus cells under None, as a list: not data
        value = raw.strip()
        if value:
            name = key.strip()
            if name.lower() in _KNOWN_COLUMNS:
                values[name.lower()] = value
            else:
                metadata[name] = value

    phone = values.get("phone")
    if phone is None:
        return Rejection("missing phone", "")
    region = _region(values.get("country", default_region))
    if isinstance(region, Rejection):
        return region
    parsed = _parse(phone, region)
    if isinstance(parsed, Rejection):
        return parsed
    number, country, kind = parsed

    facts = _account_facts(values, country, str(number.national_number)[:3])
    if isinstance(facts, Rejection):
        return facts
    raw_priority = values.get("priority")
    priority = DEFAULT_PRIORITY if raw_priority is None else parse_priority(raw_priority)
    if isinstance(priority, str):
        return Rejection(priority, raw_priority or "")
    zone_column = values.get("timezone")
    if zone_column is None:
        zones = _zones_for(number, kind) or (fallback_zone,)
    else:
        zone = canonical_zone_name(zone_column)
        if zone is None:
            return Rejection(f'unknown time zone "{zone_column}"', zone_column)
        zones = (zone,)
    return ContactRow(
        phone=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        zones=zones,
        country=country,
        external_id=values.get("external_id"),
        metadata=metadata,
        region=facts[0],
        consent=facts[1],
        consent_on=facts[2],
        priority=priority,
    )


def _account_facts(
    values: Mapping[str, str], country: str, area_code: str
) -> tuple[str | None, bool | None, date | None] | Rejection:
    """(region, consent, consent date) of a row, or why its `region`/`consent` cell is wrong.
    Without a `region` cell: the state or province of a US or Canadian number's area code, else
    the number's country."""
    raw_region = values.get("region")
    if raw_region is None:
        region = None if country == "001" else subdivision(country, area_code) or country
    else:
        region = region_code(raw_region)
        if region is None or region[:2] not in phonenumbers.SUPPORTED_REGIONS:
            return Rejection(
                f'region "{raw_region}" is not a region code such as US or US-FL', raw_region
            )
    raw_consent = values.get("consent")
    if raw_consent is None:
        return region, None, None
    consent = consent_of(raw_consent)
    if consent is None:
        reason = f'consent "{raw_consent}" is not true, false or a date (YYYY-MM-DD)'
        return Rejection(reason, raw_consent)
    return region, consent[0], consent[1]


def normalise_phone(raw: str, default_region: str | None) -> str | None:
    """E.164 spelling of a valid number (for the do-not-call list), or None if it is not one."""
    region = _region(default_region)
    parsed = None if isinstance(region, Rejection) else _parse(raw.strip(), region)
    if parsed is None or isinstance(parsed, Rejection):
        return None
    return phonenumbers.format_number(parsed[0], PhoneNumberFormat.E164)
