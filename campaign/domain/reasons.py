"""Why a contact waits or was closed: the fixed words `status`, the export and the console show.

Stored by value in `contacts.waiting_reason` / `contacts.closed_reason`, so renaming a value is a
data migration. An account rule's hold adds a detail after a colon (`holiday: Christmas Day (GB)`,
`account cap: 3 calls today to this number`); details are words of the policy, never a time or a
count that changes, so `status` groups contacts into a few readable lines. A contact closed by its
retry policy carries the policy's own decision text instead (`busy: 3 attempts ended busy,
max 3`), which says more than any fixed word could.
"""

from __future__ import annotations

from enum import StrEnum


class Waiting(StrEnum):
    """Why a pending contact is not being called right now."""

    DUE = "due"  # nothing holds it: the next claim takes it
    NOT_STARTED = "not started"
    CAMPAIGN_PAUSED = "campaign paused"
    CAMPAIGN_NOT_RUNNING = "campaign not running"
    WINDOW = "window"  # outside its calling window until its next opening
    FREQUENCY = "frequency"  # min_gap, per_day or per_week holds it back
    RETRY = "retry"  # the retry policy's delay
    CALLBACK = "callback"  # the bot (or an operator) asked to call back at that time
    GATEWAY_UNAVAILABLE = "gateway unavailable"  # the gateway's breaker is open
    HOLIDAY = "holiday"  # a national holiday the account policy keeps, in the contact's country
    ACCOUNT_HOURS = "account hours"  # outside the account's hours for the contact's region
    ACCOUNT_CAP = "account cap"  # the account's per-number caps, across every campaign
    CALLER_CAP = "caller cap"  # every caller ID of the pool made its max_calls_per_day today


class Closed(StrEnum):
    """Why a contact was closed by a gate rather than by its retry policy."""

    DO_NOT_CALL = "on the do-not-call list"
    CAMPAIGN_CANCELLED = "campaign cancelled"
    WINDOW_NEVER_OPENS = "the calling window never opens again"
    NO_CONSENT = "no consent"  # the account requires consent and the contact has none
