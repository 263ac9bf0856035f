"""A point in time as operators type it on a command line or in a request.

One grammar for every "since" and "until" an operator gives (`--since` of the audit trail and of
event replays, a do-not-call expiry): a duration counted from now (`2h`, `90d`), a date, or an
ISO 8601 instant with its offset. An instant without an offset is refused rather than guessed:
the operator's zone is not the server's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from campaign.domain.durations import parse_duration


def read_time(
    value: str, *, now: datetime | None, back: bool = False, day_end: bool = False
) -> datetime | None:
    """`value` as an aware datetime, or None when it is none of the three forms.

    A duration counts forward from `now` (back with `back`; with `now` None durations are not
    accepted). A date means its midnight UTC, or with `day_end` the midnight after it, so the day
    itself is included. Callers word the refusal, since only they know which field it was.
    """
    text = value.strip()
    if now is not None:
        try:
            delta = parse_duration(text)
        except ValueError:
            pass
        else:
            return now - delta if back else now + delta
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1) if day_end else day, time(0), tzinfo=UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.utcoffset() is not None else None
