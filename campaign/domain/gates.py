"""The gates every dial passes, decided in one place for the dispatcher and the dial path.

In order: the campaign is running (cancelled closes the contact, any other state hands it back),
the number is not on the do-not-call list, the account's consent rule, then the time gates: the
calling window is open for the whole ring time (`CampaignSpec.ring_margin`), the account's hours
and holidays in the contact's local time, the campaign's frequency caps (`min_gap`, `per_day`,
`per_week`), and the account's caps on calls to the number across every campaign
(`domain.account_gates`). A contact held by a time gate is due again at the first instant *all*
of them open (found by moving forward gate by gate until none moves), and waits for the first
gate that was closed now. The dispatcher asks before it creates an attempt and the worker asks
again right before the POST, since minutes may pass in between (a pause, a do-not-call entry, a
window closing, a call from another campaign); both must give the same answer for the same
facts, which is why there is one function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from campaign.domain import account_gates
from campaign.domain.account import AccountPolicy
from campaign.domain.account_gates import Gate, Hold, NumberFacts
from campaign.domain.calling_window import CallingWindow
from campaign.domain.reasons import Closed, Waiting
from campaign.domain.retry_policy import PastAttempt
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import CampaignState, ContactEvent


@dataclass(frozen=True)
class Open:
    """Every gate is open: dial now."""


@dataclass(frozen=True)
class Defer:
    """Not now: the contact waits, due again at `at` (when every time gate is open again)."""

    at: datetime
    reason: Waiting
    detail: str | None = None

    @property
    def text(self) -> str:
        """The waiting reason as stored and shown: `holiday: Christmas Day (GB)`."""
        return self.reason.value if self.detail is None else f"{self.reason.value}: {self.detail}"


@dataclass(frozen=True)
class Close:
    """Never: the contact takes `event` (suppress, cancel, exhaust) for `reason`."""

    event: ContactEvent
    reason: Closed


Verdict = Open | Defer | Close
OPEN = Open()
NO_ACCOUNT_RULES = AccountPolicy()
UNKNOWN_NUMBER = NumberFacts()
_ROUNDS = 16
"""Time gates rarely take more than three rounds to agree; past this, the contact is deferred
to where the search got and decided afresh then."""


_CANCELLED = Close(ContactEvent.CANCEL, Closed.CAMPAIGN_CANCELLED)


def campaign_gate(campaign: CampaignState) -> Close | Waiting | None:
    """The first gate, on its own: a cancelled campaign closes the contact, any other state but
    running makes it wait (for that reason), a running one lets it through (None). Pause and
    cancel apply it to their queued attempts at once (`lifecycle.release_queued`)."""
    if campaign is CampaignState.CANCELLED:
        return _CANCELLED
    if campaign is not CampaignState.RUNNING:
        paused = campaign is CampaignState.PAUSED
        return Waiting.CAMPAIGN_PAUSED if paused else Waiting.CAMPAIGN_NOT_RUNNING
    return None


def not_dialed(reason: Waiting | Closed | str) -> str:
    """An attempt's decision when a gate released it before its POST."""
    return f"not dialed: {reason}"


def decide(
    spec: CampaignSpec,
    *,
    campaign: CampaignState,
    on_dnc: bool,
    contact_zones: Sequence[str],
    history: Sequence[PastAttempt],
    now: datetime,
    account: AccountPolicy = NO_ACCOUNT_RULES,
    number: NumberFacts = UNKNOWN_NUMBER,
) -> Verdict:
    """The first gate that is closed, or OPEN. `history` (the contact's past dials) is read only
    when the policy has frequency caps, so callers may pass () otherwise; `number` only when the
    account has compliance rules."""
    held = campaign_gate(campaign)
    if isinstance(held, Close):
        return held
    if held is not None:
        return Defer(now, held)
    if on_dnc:
        return Close(ContactEvent.SUPPRESS, Closed.DO_NOT_CALL)
    if account_gates.consent_missing(account, number):
        return Close(ContactEvent.SUPPRESS, Closed.NO_CONSENT)
    zones = spec.window.zones_for(contact_zones)
    margin = spec.ring_margin

    def window(t: datetime) -> Hold | None:
        if spec.window.is_open(t, zones, margin):
            return None
        return Hold(spec.window.next_open(t, zones, margin), Waiting.WINDOW)

    def frequency(t: datetime) -> Hold | None:
        earliest = spec.retry.earliest_allowed(history, t, zones[0])
        return Hold(earliest, Waiting.FREQUENCY) if earliest > t else None

    local: Gate | None = None
    capped: Gate | None = None
    if account.compliance.active:
        own = zones if spec.window.timezone_mode == "contact" else _own_zones(spec, contact_zones)
        local = account_gates.local_gate(account, number, own, margin, now)
        capped = account_gates.caps_gate(account, number, own[0])
    ordered = (window, local, frequency if spec.retry.frequency_capped else None, capped)
    verdict = _first_opening(now, [gate for gate in ordered if gate is not None])
    if verdict is OPEN and number.in_progress and account.compliance.per_number.capped:
        return Defer(
            now + account_gates.IN_PROGRESS_RECHECK,
            Waiting.ACCOUNT_CAP,
            "a call to this number is in progress",
        )
    return verdict


def _own_zones(spec: CampaignSpec, contact_zones: Sequence[str]) -> tuple[ZoneInfo, ...]:
    """The contact's own zones, for account rules, when the campaign reads hours in one zone."""
    own = CallingWindow(fallback_timezone=spec.window.fallback_timezone)
    return own.zones_for(contact_zones)


def _first_opening(now: datetime, gates: Sequence[Gate]) -> Verdict:
    """OPEN if every gate is open now; else a Defer to the first instant all are open, for the
    first gate closed now (or Close when one never opens again)."""
    first: Hold | None = None
    t = now
    for _ in range(_ROUNDS):
        moved = False
        for gate in gates:
            hold = gate(t)
            if hold is None:
                continue
            first = first or hold
            if hold.until is None:
                return Close(ContactEvent.EXHAUST, Closed.WINDOW_NEVER_OPENS)
            if hold.until > t:
                t, moved = hold.until, True
        if not moved:
            break
    if first is None:
        return OPEN
    return Defer(t, first.reason, first.detail)
