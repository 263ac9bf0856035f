"""Dispositions: what the bot (or an operator) says a call came to, and what it does to the contact.

The engine learns from SAVG only *whether* a call connected (the outcome class); the bot knows
*what happened in it*. It posts one of five words to the attempt's disposition URL:

- `done`: the contact is closed `done`, the business outcome kept as `label`;
- `callback`: the contact is due again at the local time `at` (in `timezone`, else the
  contact's), inside the calling window and the frequency caps, and the call counts like any
  other; a time outside the window moves to its next opening;
- `do_not_call`: closed `suppressed`; the number goes on the do-not-call list, so every open
  contact with it, in every campaign, is closed too;
- `wrong_number`: closed `invalid`;
- `retry`: left to the retry policy, as if nothing had been said.

A disposition wins over the outcome class whatever the order they arrive in: before the final
notification it is kept on the attempt and applied when the call ends (`settle` is what the
consumer then does instead of the retry policy), after it the contact is settled again. Both
orders end in the same contact state; `tests/unit/test_dispositions.py` holds the table.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from campaign.domain.calling_window import CallingWindow
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.reasons import Closed
from campaign.domain.retry_policy import PastAttempt, RetryPolicy
from campaign.domain.states import ContactEvent, ContactState
from campaign.domain.window_spec import canonical_zone_name
from campaign.errors import InvalidInput


class Disposition(StrEnum):
    """The words a bot or an operator may post (see the module docstring)."""

    DONE = "done"
    CALLBACK = "callback"
    DO_NOT_CALL = "do_not_call"
    WRONG_NUMBER = "wrong_number"
    RETRY = "retry"


ALLOWED: Final = tuple(d.value for d in Disposition)
MAX_LABEL_CHARS: Final = 100
PAST_SLACK: Final = timedelta(minutes=5)
"""A callback time this far in the past is taken as "now" (clocks differ, the bot was slow);
further back it is refused as a mistake."""

DISPOSABLE: Final = frozenset(
    {ContactState.PENDING, ContactState.IN_FLIGHT, ContactState.DONE, ContactState.EXHAUSTED}
)
"""Contact states a disposition can still move; suppressed, cancelled and invalid stay."""

_EVENTS: Final = {
    Disposition.DONE: ContactEvent.RESOLVE,
    Disposition.CALLBACK: ContactEvent.CALL_BACK,
    Disposition.DO_NOT_CALL: ContactEvent.BLOCK,
    Disposition.WRONG_NUMBER: ContactEvent.INVALIDATE,
}


@dataclass(frozen=True)
class DispositionRequest:
    """One disposition as read: `at` is a naive local wall time, `timezone` a canonical name."""

    disposition: Disposition
    label: str | None = None
    at: datetime | None = None
    timezone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The request in the wire's own shape (stored, and compared to spot a duplicate)."""
        return {
            "disposition": self.disposition.value,
            "label": self.label,
            "at": self.at.isoformat() if self.at else None,
            "timezone": self.timezone,
        }


def _label(value: object, errors: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append("label: must be a string")
        return None
    text = value.strip()
    if not text or len(text) > MAX_LABEL_CHARS:
        errors.append(f"label: give 1 to {MAX_LABEL_CHARS} characters")
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        errors.append("label: contains a control character")
        return None
    return text


def _local_time(value: object, errors: list[str]) -> datetime | None:
    example = "give the local time without an offset, e.g. 2026-12-01T17:00"
    if not isinstance(value, str) or "T" not in value.upper():
        errors.append(f"at: {value!r} is not a local date and time ({example})")
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.append(f"at: {value!r} is not a local date and time ({example})")
        return None
    if at.tzinfo is not None:
        errors.append(f"at: {value!r} has an offset; {example} and the zone in `timezone`")
        return None
    return at


def parse_disposition(body: object) -> DispositionRequest:
    """Read a disposition body; `InvalidInput` names every problem (an unknown word lists the
    allowed ones). Fields other than the four are ignored, as bots add their own."""
    if not isinstance(body, Mapping):
        raise InvalidInput('the body must be a JSON object, e.g. {"disposition": "done"}')
    raw = body.get("disposition")
    if raw not in ALLOWED:
        raise InvalidInput(f"disposition: {raw!r} is not one of {', '.join(ALLOWED)}")
    disposition = Disposition(raw)
    errors: list[str] = []
    label = _label(body.get("label"), errors)
    at = zone = None
    if disposition is Disposition.CALLBACK:
        if body.get("at") is None:
            errors.append("at: a callback needs the local time to call back")
        else:
            at = _local_time(body["at"], errors)
        if body.get("timezone") is not None:
            zone = canonical_zone_name(str(body["timezone"]))
            if zone is None:
                errors.append(f"timezone: {body['timezone']!r} is not an IANA time zone")
    else:
        errors += [
            f"{key}: only a callback takes it" for key in ("at", "timezone") if body.get(key)
        ]
    if errors:
        raise InvalidInput("; ".join(errors))
    return DispositionRequest(disposition, label, at, zone)


@dataclass(frozen=True)
class CallbackPlan:
    """When a callback will be dialed: `due_at` (UTC), or None when it cannot be (`note` says
    why). `moved` when the window or a frequency cap put it later than asked."""

    asked: datetime
    zone: ZoneInfo
    due_at: datetime | None
    moved: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        local = self.due_at.astimezone(self.zone).isoformat() if self.due_at else None
        return {
            "asked": self.asked.isoformat(),
            "timezone": self.zone.key,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "local_due_at": local,
            "moved": self.moved,
            "note": self.note,
        }


@dataclass(frozen=True)
class CallbackRules:
    """What a callback must respect: the campaign's window, its retry policy's caps, and the
    contact's zones (`zones[0]` reads local days and is the default zone of `at`)."""

    window: CallingWindow
    policy: RetryPolicy
    zones: Sequence[ZoneInfo]
    margin: timedelta


def plan_callback(
    request: DispositionRequest,
    rules: CallbackRules,
    *,
    this_run: Sequence[PastAttempt],
    every_run: Sequence[PastAttempt],
    now: datetime,
) -> CallbackPlan:
    """Place a callback in time. It counts like any call: when this run's counted attempts have
    reached `max_attempts` it cannot be dialed; `min_gap`, `per_day`, `per_week` (over every run)
    and the calling window may only move it later. A time in the past (beyond `PAST_SLACK`) is
    refused; a slightly late one is taken as now."""
    if request.at is None:
        raise ValueError("a callback plan needs the request's `at`")
    zone = ZoneInfo(request.timezone) if request.timezone else rules.zones[0]
    asked = request.at.replace(tzinfo=zone)
    if asked < now - PAST_SLACK:
        raise InvalidInput(f"at: {request.at.isoformat()} in {zone.key} is in the past")
    counted = sum(1 for past in this_run if past.counted)
    if counted >= rules.policy.max_attempts:
        cap = rules.policy.max_attempts
        note = f"callback not dialed: {counted} counted attempts, max_attempts {cap}"
        return CallbackPlan(asked, zone, None, False, note)
    start = max(asked, now)
    capped = rules.policy.earliest_allowed(every_run, start, rules.zones[0])
    opens = rules.window.next_open(capped, rules.zones, rules.margin)
    if opens is None:
        note = f"callback not dialed: {Closed.WINDOW_NEVER_OPENS.value}"
        return CallbackPlan(asked, zone, None, False, note)
    local = opens.astimezone(zone).isoformat()
    if opens > capped:
        note = f"outside the calling window: moved to its next opening, {local}"
    elif capped > start:
        note = f"held by the frequency caps (min_gap, per_day, per_week) until {local}"
    else:
        note = f"callback at {local}"
    return CallbackPlan(asked, zone, opens, opens > start, note)


@dataclass(frozen=True)
class Settlement:
    """What a disposition does to its contact: a contact `event` (None: the retry policy decides,
    or decided), the reason recorded with it, and a callback's due time."""

    event: ContactEvent | None
    reason: str
    due_at: datetime | None = None


def settle(
    disposition: Disposition,
    *,
    label: str | None,
    outcome: OutcomeClass | None,
    callback_due: datetime | None,
) -> Settlement:
    """The decision: the disposition wins over `outcome` (None while the call is still out),
    which only names what the line did in the reason. A callback that cannot be dialed
    (`callback_due` None) leaves the contact to the retry policy."""
    line = f" (call {outcome.value})" if outcome is not None else ""
    if disposition is Disposition.RETRY:
        return Settlement(None, f"disposition retry: the retry policy decides{line}")
    if disposition is Disposition.CALLBACK and callback_due is None:
        return Settlement(
            None, f"disposition callback not possible: the retry policy decides{line}"
        )
    event = _EVENTS[disposition]
    if disposition is Disposition.CALLBACK and callback_due is not None:
        reason = f"callback at {callback_due.isoformat()}"
        return Settlement(event, f"disposition {reason}{line}", callback_due)
    if disposition is Disposition.DONE:
        reason = f"done: {label}" if label else "done"
    elif disposition is Disposition.DO_NOT_CALL:
        reason = Closed.DO_NOT_CALL.value
    else:
        reason = "wrong number"
    return Settlement(event, f"disposition {reason}{line}")


def settles(state: ContactState, settlement: Settlement) -> bool:
    """Whether `settlement` moves a contact in `state` (a pending contact takes a callback's new
    due time though its state stays pending)."""
    return settlement.event is not None and state in DISPOSABLE
