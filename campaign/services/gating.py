"""The gates as the services apply them: gather each contact's facts, ask `domain.gates`, act.

The dispatcher gates a batch of contacts before creating their attempts; the dial path gates one
contact again right before the POST. Both gather the same facts here (do-not-call entries, past
dials when the policy caps frequency, the account policy in force and each number's calls across
campaigns when it caps them) in one query each, and apply a closed gate through the contact
machine here, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from campaign.db.tables import ContactRow
from campaign.domain import gates
from campaign.domain.events_spec import EventsSpec
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import (
    CONTACT_FINAL,
    CampaignState,
    ContactEvent,
    ContactState,
    contact_transition,
)
from campaign.services import account, event_outbox, number_calls
from campaign.services.dnc import blocked_numbers
from campaign.services.redial import histories


class GatedContact(Protocol):
    """What the gates read of a contact: a `ContactRow`, or the claim's plain `DueContact`."""

    @property
    def id(self) -> int: ...
    @property
    def phone(self) -> str: ...
    @property
    def zones(self) -> list[str]: ...
    @property
    def region(self) -> str | None: ...
    @property
    def consent(self) -> bool | None: ...


def check(
    session: Session,
    spec: CampaignSpec,
    campaign: CampaignState,
    contacts: Sequence[GatedContact],
    now: datetime,
) -> dict[int, gates.Verdict]:
    """Each contact's verdict, by contact id; a few queries, whatever the batch size."""
    if campaign is not CampaignState.RUNNING:
        # The campaign gate decides before the number matters.
        return {
            c.id: gates.decide(
                spec, campaign=campaign, on_dnc=False, contact_zones=c.zones, history=(), now=now
            )
            for c in contacts
        }
    blocked = blocked_numbers(session, (c.phone for c in contacts), now)
    past = histories(session, [c.id for c in contacts]) if spec.retry.frequency_capped else {}
    policy = account.current(session)
    numbers = number_calls.facts(session, contacts, policy, now)
    return {
        c.id: gates.decide(
            spec,
            campaign=campaign,
            on_dnc=c.phone in blocked,
            contact_zones=c.zones,
            history=past.get(c.id, ()),
            now=now,
            account=policy,
            number=numbers[c.id],
        )
        for c in contacts
    }


def hold(
    session: Session,
    contact: ContactRow,
    verdict: gates.Defer | gates.Close,
    events: EventsSpec | None,
) -> None:
    """Apply a closed gate to a pending or in-flight contact through the contact machine: it waits
    for the gate's next opening, or is closed for good (`contact.closed` to the campaign's
    `events`). A contact closed meanwhile (a cancel closed it and reported it) stays as it
    was closed."""
    state = ContactState(contact.state)
    if state in CONTACT_FINAL:
        return
    if isinstance(verdict, gates.Defer):
        contact.state = contact_transition(state, ContactEvent.RELEASE).state.value
        contact.next_due_at = verdict.at
        contact.waiting_reason = verdict.text
        return
    contact.state = contact_transition(state, verdict.event).state.value
    contact.closed_reason = verdict.reason.value
    contact.next_due_at = None
    event_outbox.contact_closed(session, contact, events)
