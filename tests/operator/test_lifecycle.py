"""Lifecycle verbs on real PostgreSQL: each idempotent, each through the campaign state machine."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, DncRow, RunRow
from campaign.errors import IllegalTransition
from campaign.services import campaigns, lifecycle, uploads
from tests.operator.conftest import NOW, csv_bytes, spec_doc


@pytest.fixture
def campaign_id(db: Session, spec: dict[str, Any]) -> int:
    cid = campaigns.create_campaign(db, spec).id
    uploads.import_contacts(
        db, cid, csv_bytes("phone\n2015550123\n2015550124\n2015550125\n"), now=NOW
    )
    return cid


def _states(db: Session, campaign_id: int) -> list[str]:
    query = select(ContactRow.state).where(ContactRow.campaign_id == campaign_id)
    return sorted(db.scalars(query))


def test_start_opens_run_one_and_repeating_it_changes_nothing(
    db: Session, campaign_id: int
) -> None:
    first = lifecycle.start(db, campaign_id, now=NOW)
    again = lifecycle.start(db, campaign_id, now=NOW)
    assert (first.state, first.changed, first.run) == ("running", True, 1)
    assert (again.state, again.changed) == ("running", False)
    runs = list(db.scalars(select(RunRow).where(RunRow.campaign_id == campaign_id)))
    assert [(r.number, r.state) for r in runs] == [(1, "running")]
    assert db.get(CampaignRow, campaign_id).current_run_id == runs[0].id  # type: ignore[union-attr]


def test_start_rescrubs_do_not_call(db: Session, campaign_id: int) -> None:
    db.add(DncRow(phone="+12015550124"))
    db.flush()
    lifecycle.start(db, campaign_id, now=NOW)
    assert _states(db, campaign_id) == ["pending", "pending", "suppressed"]


def test_pause_and_resume_are_idempotent_and_keep_due_times(db: Session, campaign_id: int) -> None:
    lifecycle.start(db, campaign_id, now=NOW)
    assert lifecycle.pause(db, campaign_id).changed
    repeat = lifecycle.pause(db, campaign_id)
    assert (repeat.state, repeat.changed) == ("paused", False)
    row = db.get(CampaignRow, campaign_id)
    assert row is not None
    assert row.paused_reason == lifecycle.OPERATOR_PAUSE
    assert lifecycle.resume(db, campaign_id).state == "running"
    assert not lifecycle.resume(db, campaign_id).changed
    assert row.paused_reason is None
    dues = db.scalars(select(ContactRow.next_due_at).where(ContactRow.campaign_id == campaign_id))
    assert set(dues) == {NOW}


def test_cancel_closes_pending_and_in_flight_contacts_and_the_run(
    db: Session, campaign_id: int
) -> None:
    lifecycle.start(db, campaign_id, now=NOW)
    contact = db.scalars(select(ContactRow).where(ContactRow.campaign_id == campaign_id)).first()
    assert contact is not None
    contact.state = "in_flight"
    db.add(
        AttemptRow(
            campaign_id=campaign_id,
            contact_id=contact.id,
            number=1,
            phone=contact.phone,
            state="accepted",
            queued_at=NOW,
        )
    )
    db.flush()
    result = lifecycle.cancel(db, campaign_id, now=NOW)
    assert (result.state, result.changed) == ("cancelled", True)
    assert _states(db, campaign_id) == ["cancelled"] * 3
    assert not lifecycle.cancel(db, campaign_id, now=NOW).changed
    run = db.scalars(select(RunRow).where(RunRow.campaign_id == campaign_id)).one()
    assert (run.state, run.finished_at) == ("cancelled", NOW)


def test_resume_of_a_draft_is_illegal(db: Session, campaign_id: int) -> None:
    with pytest.raises(IllegalTransition, match="'draft' cannot take event 'resume'"):
        lifecycle.resume(db, campaign_id)


def test_cancelled_campaign_cannot_start(db: Session, campaign_id: int) -> None:
    lifecycle.cancel(db, campaign_id, now=NOW)
    with pytest.raises(IllegalTransition):
        lifecycle.start(db, campaign_id, now=NOW)


def test_recurring_campaign_start_schedules_the_first_occurrence(db: Session) -> None:
    doc = spec_doc(schedule={"cron": "0 10 * * MON", "timezone": "America/Chicago"})
    cid = campaigns.create_campaign(db, doc).id
    result = lifecycle.start(db, cid, now=NOW)  # Monday 2026-03-02 15:00 UTC = 09:00 CST
    assert (result.state, result.run) == ("scheduled", None)
    row = db.get(CampaignRow, cid)
    assert row is not None
    assert row.next_run_at == NOW.replace(hour=16)
    assert not lifecycle.start(db, cid, now=NOW).changed
