"""Reruns: a new run of a campaign that is over (completed or cancelled), for some of its contacts.

A rerun reopens contacts through the same re-arm a recurring run uses (`rearm_contacts`), then
scrubs the do-not-call list and opens the next run, so attempt caps start afresh with the run
and frequency caps (`min_gap`, `per_day`, `per_week`) still count every call of every run.

Which contacts: by default every one not `done` or `suppressed` (exhausted, cancelled, and any
still pending); with outcome classes, those whose last outcome is one of them, `done` ones
included (rerun the machines), `suppressed` ones never. A rerun waits until no call of the last
run is still out: those calls' outcomes decide what to reopen, and a contact must never have two
calls at once. Attempts still queued (a cancelled campaign's) are released first, so a late
broker message can never dial for the old run.

Contacts uploaded to a completed one-shot campaign reopen it the same way (a new run for them);
a recurring one calls them at its next occurrence. Callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, RunRow
from campaign.domain import gates
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.states import (
    ATTEMPT_FINAL,
    AttemptEvent,
    AttemptState,
    CampaignEvent,
    CampaignState,
    ContactState,
    attempt_transition,
    campaign_transition,
)
from campaign.errors import Conflict, InvalidInput
from campaign.services import audit
from campaign.services.campaigns import get_campaign_row
from campaign.services.lifecycle import open_run, rearm_contacts, scrub_dnc
from campaign.services.specs import load_spec
from campaign.services.upload_report import UploadReport

_OVER = (CampaignState.COMPLETED, CampaignState.CANCELLED)
_BY_DEFAULT = (ContactState.EXHAUSTED, ContactState.CANCELLED)
_BY_OUTCOME = (ContactState.DONE, ContactState.EXHAUSTED, ContactState.CANCELLED)
_NOT_OVER_HINT = {
    CampaignState.DRAFT: "start it instead",
    CampaignState.SCHEDULED: "its runs start on schedule",
    CampaignState.RUNNING: "wait until it completes, or cancel it first",
    CampaignState.PAUSED: "resume it, or cancel it first",
}


@dataclass(frozen=True)
class RerunResult:
    """The run a rerun opened and how many contacts it will call."""

    id: int
    run: int
    reopened: int
    outcomes: list[str] | None

    def to_dict(self) -> dict[str, Any]:
        """The operator contract's `{"run", "reopened"}`, plus the campaign id and the filter."""
        return {
            "id": self.id,
            "run": self.run,
            "reopened": self.reopened,
            "outcomes": self.outcomes,
        }


def parse_outcomes(names: Iterable[str], where: str = "--outcomes") -> list[OutcomeClass]:
    """Outcome classes from their names; a bad one is a one-line error listing the valid ones."""
    valid = ", ".join(c.value for c in OutcomeClass)
    classes: list[OutcomeClass] = []
    for raw in names:
        name = raw.strip()
        try:
            outcome = OutcomeClass(name)
        except ValueError:
            raise InvalidInput(f'{where}: "{name}" is not an outcome class ({valid})') from None
        if outcome not in classes:
            classes.append(outcome)
    if not classes:
        raise InvalidInput(f"{where}: name at least one outcome class ({valid})")
    return classes


def _calls_still_out(session: Session, campaign: CampaignRow) -> None:
    """Release the campaign's queued attempts; refuse while any other attempt is not final."""
    queued = AttemptState.QUEUED
    session.execute(
        update(AttemptRow)
        .where(AttemptRow.campaign_id == campaign.id, AttemptRow.state == queued.value)
        .values(
            state=attempt_transition(queued, AttemptEvent.RELEASE).state.value,
            decision=gates.not_dialed("campaign rerun"),
        )
        .execution_options(synchronize_session=False)
    )
    final = [s.value for s in ATTEMPT_FINAL]
    out = session.scalar(
        select(func.count())
        .select_from(AttemptRow)
        .where(AttemptRow.campaign_id == campaign.id, AttemptRow.state.not_in(final))
    )
    if out:
        run = session.get(RunRow, campaign.current_run_id) if campaign.current_run_id else None
        calls = f"{out} call{'' if out == 1 else 's'}"
        raise Conflict(
            f"campaign {campaign.id}: run {run.number if run else '?'} still has {calls} out; "
            "rerun once they have ended (their outcomes decide what the rerun reopens)"
        )


def _open_next_run(session: Session, campaign: CampaignRow, now: datetime, note: str) -> int:
    """The campaign runs again, in a new run; returns the run's number."""
    state = CampaignState(campaign.state)
    campaign.state = campaign_transition(state, CampaignEvent.RERUN).state.value
    campaign.paused_reason = None
    return open_run(session, campaign, now=now, note=note).number


def _pending(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ContactRow)
            .where(
                ContactRow.campaign_id == campaign_id,
                ContactRow.state == ContactState.PENDING.value,
            )
        )
        or 0
    )


def rerun(
    session: Session,
    campaign_id: int,
    *,
    now: datetime,
    outcomes: Collection[OutcomeClass] | None = None,
) -> RerunResult:
    """Open a new run of a completed or cancelled campaign (see the module docstring for which
    contacts); anything else is a Conflict that says why. `reopened` counts the contacts the new
    run will call (pending once do-not-call numbers are suppressed)."""
    campaign = get_campaign_row(session, campaign_id, lock=True)
    state = CampaignState(campaign.state)
    if state not in _OVER:
        raise Conflict(
            f"campaign {campaign_id} is {state.value}: rerun opens a new run of a completed or "
            f"cancelled campaign ({_NOT_OVER_HINT[state]})"
        )
    _calls_still_out(session, campaign)
    chosen = None if outcomes is None else [o.value for o in outcomes]
    sources = _BY_DEFAULT if outcomes is None else _BY_OUTCOME
    rearm_contacts(session, campaign_id, now, sources=sources, outcomes=outcomes)
    scrub_dnc(session, campaign_id, now)
    note = f"rerun of outcomes {', '.join(chosen)}" if chosen else "rerun of every open contact"
    run = _open_next_run(session, campaign, now, note)
    session.flush()
    result = RerunResult(campaign_id, run, _pending(session, campaign_id), chosen)
    audit.record(
        session,
        "campaign.rerun",
        campaign_id=campaign_id,
        before={"state": state.value},
        after={"state": campaign.state},
        detail=result.to_dict(),
    )
    return result


def after_upload(
    session: Session, campaign_id: int, report: UploadReport, *, now: datetime
) -> UploadReport:
    """Run in the upload's transaction, after `uploads.import_contacts`: new contacts of a
    completed campaign would otherwise never be called, so a one-shot campaign reopens in a new
    run for them and a recurring one calls them at its next occurrence; `report` says which."""
    campaign = get_campaign_row(session, campaign_id)
    if campaign.state != CampaignState.COMPLETED.value or not report.accepted:
        return report
    schedule = load_spec(campaign.spec).schedule
    if schedule is not None:
        when = campaign.next_run_at.isoformat() if campaign.next_run_at else "none scheduled"
        report.note = (
            f"campaign {campaign_id} is between runs: the new contacts are called in its next "
            f"run ({when})"
        )
        return report
    run = reopen_completed(session, campaign_id, now, f"{report.accepted} contacts uploaded")
    if run is None:
        return report
    report.reopened_run = run
    report.note = (
        f"campaign {campaign_id} had completed: run {run} opened to call the "
        f"{report.accepted} new contacts"
    )
    return report


def reopen_completed(session: Session, campaign_id: int, now: datetime, note: str) -> int | None:
    """Open a new run of a completed one-shot campaign for contacts made pending after it
    completed (an upload, a callback asked for after its last call); returns the run's number,
    or None when it is not completed or is recurring (its next occurrence calls them)."""
    campaign = get_campaign_row(session, campaign_id)
    if campaign.state != CampaignState.COMPLETED.value or load_spec(campaign.spec).schedule:
        return None
    # Upgrade the caller's share lock; a concurrent upload may have reopened it meanwhile.
    session.refresh(campaign, with_for_update={"key_share": True})
    if campaign.state != CampaignState.COMPLETED.value:
        return None
    run = _open_next_run(session, campaign, now, note)
    session.flush()
    return run
