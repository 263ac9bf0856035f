"""National public holidays (the `holidays` package), as local dates on which nobody is called.

Only a country's national calendar counts (observed days included: a holiday falling on a
Sunday is often kept on the Monday), never a subdivision's own days, so one list of countries in
the account policy means the same days for every contact of a country. Calendars are computed
once per (country, year) and memoised: the dispatcher asks for thousands of contacts that share a
handful of countries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache
from types import MappingProxyType

import holidays


@lru_cache(maxsize=1)
def supported() -> frozenset[str]:
    """ISO 3166 alpha-2 codes of the countries whose calendars the package knows."""
    return frozenset(holidays.list_supported_countries())


@lru_cache(maxsize=1024)
def calendar(country: str, year: int) -> Mapping[date, str]:
    """Holiday names by date for one country and year (names of one date joined by `; `)."""
    found = holidays.country_holidays(country, years=year)
    return MappingProxyType({day: str(name) for day, name in found.items()})


def holiday_on(country: str, day: date) -> str | None:
    """The holiday's name, or None on an ordinary day."""
    return calendar(country, day.year).get(day)


@lru_cache(maxsize=1024)
def dates(country: str, years: tuple[int, ...]) -> frozenset[date]:
    """Every holiday of `country` in `years`."""
    return frozenset(day for year in years for day in calendar(country, year))


def around(year: int) -> tuple[int, ...]:
    """The years a decision made in `year` can touch: local dates run a day either side of UTC,
    and the next opening may lie in the next year."""
    return (year - 1, year, year + 1)


def unknown(countries: Iterable[str]) -> list[str]:
    """The codes in `countries` the package has no calendar for."""
    known = supported()
    return [c for c in countries if c not in known]
