"""Region codes as the account policy and the contacts CSV write them: `US`, or `US-FL`.

A country (ISO 3166-1 alpha-2) or a country and one of its subdivisions (the ISO 3166-2 suffix).
Kept apart from `account` so the upload's validation workers read them without the holiday
calendars.
"""

from __future__ import annotations

import re
from datetime import date

_REGION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", re.ASCII)
_YES = frozenset({"true", "yes", "y", "1"})
_NO = frozenset({"false", "no", "n", "0"})
_DATE = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)


def region_code(value: str) -> str | None:
    """`value` as a region code (`US`, `US-FL`, upper case), or None if it is not one."""
    code = value.strip().upper()
    return code if _REGION.fullmatch(code) else None


def consent_of(value: str) -> tuple[bool, date | None] | None:
    """A CSV `consent` cell: true/false (yes/no, 1/0), or the ISO date consent was given (which
    means true); None when it is none of these."""
    word = value.strip().lower()
    if word in _YES:
        return True, None
    if word in _NO:
        return False, None
    if _DATE.fullmatch(word):
        try:
            return True, date.fromisoformat(word)
        except ValueError:
            return None
    return None
