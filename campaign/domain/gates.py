"""The gates every dial passes, decided in one place for the dispatcher and the dial path.

In order: the campaign is running (cancelled closes the contact, any other state hands it back),
the number is not on the do-not-call list, the calling window is open for the whole ring time
(`CampaignSpec.ring_margin`), and the frequency caps (`min_gap`, `per_day`, `per_week`) allow a
call now. The dispatcher asks before it creates an attempt and the worker asks again right before
the POST, since minutes may pass in between (a pause, a do-not-call entry, a window closing); both
must give the same answer for the same facts, which is why there is one function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from campaign.domain.reasons import Closed, Waiting
from campaign.domain.retry_policy import PastAttempt
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import CampaignState, ContactEvent


@dataclass(frozen=True)
class Open:
    """Every gate is open: dial now."""


@dataclass(frozen=True)
class Defer:
    """Not now: the contact waits, due again at `at` (the gate's own next opening)."""

    at: datetime
    reason: Waiting


@dataclass(frozen=True)
class Close:
    """Never: the contact takes `event` (suppress, cancel, exhaust) for `reason`."""

    event: ContactEvent
    reason: Closed


Verdict = Open | Defer | Close
OPEN = Open()


def decide(
    spec: CampaignSpec,
    *,
    campaign: CampaignState,
    on_dnc: bool,
    contact_zones: Sequence[str],
    history: Sequence[PastAttempt],
    now: datetime,
) -> Verdict:
    """The first gate that is closed, or OPEN. `history` (the contact's past dials) is read only
    when the policy has frequency caps, so callers may pass () otherwise."""
    if campaign is CampaignState.CANCELLED:
        return Close(ContactEvent.CANCEL, Closed.CAMPAIGN_CANCELLED)
    if campaign is not CampaignState.RUNNING:
        paused = campaign is CampaignState.PAUSED
        return Defer(now, Waiting.CAMPAIGN_PAUSED if paused else Waiting.CAMPAIGN_NOT_RUNNING)
    if on_dnc:
        return Close(ContactEvent.SUPPRESS, Closed.DO_NOT_CALL)
    zones = spec.window.zones_for(contact_zones)
    if not spec.window.is_open(now, zones, spec.ring_margin):
        return _next_opening(spec, now, zones, Waiting.WINDOW)
    if spec.retry.frequency_capped:
        earliest = spec.retry.earliest_allowed(history, now, zones[0])
        if earliest > now:
            return _next_opening(spec, earliest, zones, Waiting.FREQUENCY)
    return OPEN


def _next_opening(
    spec: CampaignSpec, at: datetime, zones: Sequence[ZoneInfo], reason: Waiting
) -> Defer | Close:
    opens = spec.window.next_open(at, zones, spec.ring_margin)
    if opens is None:
        return Close(ContactEvent.EXHAUST, Closed.WINDOW_NEVER_OPENS)
    return Defer(opens, reason)
