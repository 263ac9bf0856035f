"""Reruns on real PostgreSQL: which contacts reopen, which never do, caps across runs, refusals,
and uploads to a completed campaign."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, DncRow, RunRow
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.states import RunEvent
from campaign.errors import Conflict, InvalidInput
from campaign.services import campaigns, lifecycle, reruns, uploads
from campaign.services.dispatching import claim_due_contacts
from campaign.services.redial import settle_contact
from campaign.services.specs import load_spec
from tests.operator.conftest import NOW, csv_bytes, spec_doc

PHONES = [f"+1201555{n:04d}" for n in range(123, 130)]
# The end of a first run: each contact's state and last outcome.
ENDED = [
    ("done", "human"),
    ("done", "machine"),
    ("exhausted", "busy"),
    ("exhausted", "no_answer"),
    ("suppressed", "machine"),
    ("cancelled", "busy"),
    ("cancelled", None),
]


def _campaign(db: Session, **spec: Any) -> int:
    cid = campaigns.create_campaign(db, spec_doc(**spec)).id
    uploads.import_contacts(db, cid, csv_bytes("phone\n" + "\n".join(PHONES) + "\n"), now=NOW)
    lifecycle.start(db, cid, now=NOW)
    return cid


def _end_run(db: Session, cid: int, state: str = "completed") -> None:
    """Close run 1 with the contacts as ENDED says, the campaign `state`."""
    contacts = db.scalars(select(ContactRow).where(ContactRow.campaign_id == cid))
    by_phone = {c.phone: c for c in contacts}
    for phone, (contact_state, outcome) in zip(PHONES, ENDED, strict=True):
        contact = by_phone[phone]
        contact.state, contact.last_outcome, contact.next_due_at = contact_state, outcome, None
    campaign = db.get_one(CampaignRow, cid)
    campaign.state = state
    event = RunEvent.CANCEL if state == "cancelled" else RunEvent.COMPLETE
    lifecycle.finish_run(db, campaign.current_run_id, event, NOW)
    db.flush()


def _states(db: Session, cid: int) -> dict[str, str]:
    rows = db.execute(
        select(ContactRow.phone, ContactRow.state).where(ContactRow.campaign_id == cid)
    )
    return dict(rows.tuples().all())


def _attempt(db: Session, cid: int, phone: str, *, state: str, run: int, ago: timedelta) -> None:
    contact = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid, ContactRow.phone == phone)
    ).one()
    run_id = db.scalars(
        select(RunRow.id).where(RunRow.campaign_id == cid, RunRow.number == run)
    ).one()
    final = state in ("completed", "failed")
    db.add(
        AttemptRow(
            campaign_id=cid,
            run_id=run_id,
            contact_id=contact.id,
            number=1,
            phone=phone,
            state=state,
            queued_at=NOW - ago,
            sending_at=NOW - ago if state != "queued" else None,
            outcome="busy" if final else None,
        )
    )
    db.flush()


def _upload(db: Session, cid: int, *phones: str) -> uploads.UploadReport:
    """An upload as the CLI and the API do it: import, then `after_upload`."""
    report = uploads.import_contacts(db, cid, csv_bytes("phone\n" + "\n".join(phones)), now=NOW)
    return reruns.after_upload(db, cid, report, now=NOW)


def test_default_rerun_reopens_every_contact_not_done_or_suppressed(db: Session) -> None:
    cid = _campaign(db)
    _end_run(db, cid)

    result = reruns.rerun(db, cid, now=NOW)

    assert (result.run, result.reopened, result.outcomes) == (2, 4, None)
    states = _states(db, cid)
    assert [states[p] for p in PHONES] == [
        "done",
        "done",
        "pending",
        "pending",
        "suppressed",
        "pending",
        "pending",
    ]
    campaign = db.get_one(CampaignRow, cid)
    runs = db.scalars(select(RunRow).where(RunRow.campaign_id == cid).order_by(RunRow.number))
    assert [(r.number, r.state) for r in runs] == [(1, "completed"), (2, "running")]
    assert campaign.state == "running"
    assert (
        campaign.current_run_id
        == db.scalars(select(RunRow.id).where(RunRow.campaign_id == cid, RunRow.number == 2)).one()
    )
    reopened = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid, ContactRow.state == "pending")
    )
    assert {(c.next_due_at, c.closed_reason) for c in reopened} == {(NOW, None)}


def test_rerun_by_outcome_takes_done_contacts_too_but_never_suppressed_or_listed_ones(
    db: Session,
) -> None:
    cid = _campaign(db)
    _end_run(db, cid)
    db.add(DncRow(phone=PHONES[3]))  # exhausted, no_answer: listed since
    db.flush()

    result = reruns.rerun(db, cid, now=NOW, outcomes=[OutcomeClass.MACHINE, OutcomeClass.NO_ANSWER])

    assert (result.reopened, result.outcomes) == (1, ["machine", "no_answer"])
    states = _states(db, cid)
    assert states[PHONES[1]] == "pending"  # done, machine: rerun the machines
    assert states[PHONES[4]] == "suppressed"  # suppressed, machine: never
    assert states[PHONES[3]] == "suppressed"  # on the do-not-call list now
    assert sorted(states.values()).count("pending") == 1


def test_rerun_of_a_cancelled_campaign_reopens_its_cancelled_contacts(db: Session) -> None:
    cid = _campaign(db)
    lifecycle.cancel(db, cid, now=NOW)

    result = reruns.rerun(db, cid, now=NOW + timedelta(minutes=1))

    assert (result.run, result.reopened) == (2, len(PHONES))
    assert set(_states(db, cid).values()) == {"pending"}
    assert db.get_one(CampaignRow, cid).state == "running"


@pytest.mark.parametrize(
    ("state", "hint"),
    [
        ("draft", "start it instead"),
        ("running", "wait until it completes, or cancel it first"),
        ("paused", "resume it, or cancel it first"),
    ],
)
def test_rerun_of_a_campaign_not_over_is_refused_with_the_reason(
    db: Session, state: str, hint: str
) -> None:
    cid = campaigns.create_campaign(db, spec_doc()).id
    db.get_one(CampaignRow, cid).state = state
    with pytest.raises(Conflict) as raised:
        reruns.rerun(db, cid, now=NOW)
    assert str(raised.value) == (
        f"campaign {cid} is {state}: rerun opens a new run of a completed or cancelled "
        f"campaign ({hint})"
    )


def test_rerun_waits_for_calls_still_out_and_releases_queued_ones(db: Session) -> None:
    cid = _campaign(db)
    _attempt(db, cid, PHONES[1], state="accepted", run=1, ago=timedelta(seconds=5))
    lifecycle.cancel(db, cid, now=NOW)
    # Queued after the cancel released the queued ones: a dispatcher's claim that raced it.
    _attempt(db, cid, PHONES[0], state="queued", run=1, ago=timedelta(seconds=5))

    with (
        pytest.raises(Conflict, match=r"run 1 still has 1 call out; rerun once they have ended"),
        db.begin_nested(),  # the refused rerun rolls back, as its transaction would
    ):
        reruns.rerun(db, cid, now=NOW)
    states = db.scalars(select(AttemptRow.state).where(AttemptRow.campaign_id == cid))
    assert sorted(states) == ["accepted", "queued"]

    accepted = db.scalars(
        select(AttemptRow).where(AttemptRow.campaign_id == cid, AttemptRow.state == "accepted")
    ).one()
    accepted.state = "completed"
    db.flush()
    assert reruns.rerun(db, cid, now=NOW).run == 2
    states = db.scalars(select(AttemptRow.state).where(AttemptRow.campaign_id == cid))
    assert sorted(states) == ["completed", "released"]  # a late message can dial nothing


def test_unknown_outcome_class_is_one_line_listing_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as raised:
        reruns.parse_outcomes(["busy", " bsy"])
    message = str(raised.value)
    assert message.startswith('--outcomes: "bsy" is not an outcome class (busy, rejected,')
    assert "\n" not in message
    assert all(c.value in message for c in OutcomeClass)
    assert reruns.parse_outcomes(["busy", "machine", "busy"]) == [
        OutcomeClass.BUSY,
        OutcomeClass.MACHINE,
    ]
    with pytest.raises(InvalidInput, match="name at least one outcome class"):
        reruns.parse_outcomes([], "outcomes")


def test_attempt_caps_start_afresh_with_the_rerun(db: Session) -> None:
    cid = _campaign(db, retry={"max_attempts": 2, "outcomes": {"busy": {"delays": ["1m"]}}})
    for ago in (20, 10):
        _attempt(db, cid, PHONES[2], state="failed", run=1, ago=timedelta(minutes=ago))
    _end_run(db, cid)  # PHONES[2]: exhausted after two busy calls
    reruns.rerun(db, cid, now=NOW, outcomes=[OutcomeClass.BUSY])
    contact = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid, ContactRow.phone == PHONES[2])
    ).one()
    contact.state = "in_flight"
    _attempt(db, cid, PHONES[2], state="failed", run=2, ago=timedelta(seconds=0))
    attempt = db.scalars(select(AttemptRow).order_by(AttemptRow.id.desc()).limit(1)).one()

    spec = load_spec(db.get_one(CampaignRow, cid).spec)
    decision = settle_contact(
        db,
        attempt=attempt,
        contact=contact,
        spec=spec,
        outcome=OutcomeClass.BUSY,
        now=NOW,
        rng=random.Random(1),
    )

    assert contact.state == "pending", decision  # run 2's first busy call: redial
    assert contact.next_due_at == NOW + timedelta(minutes=1)


def test_frequency_caps_count_the_calls_of_earlier_runs(db: Session) -> None:
    cid = _campaign(db, retry={"max_attempts": 3, "min_gap": "10m"})
    _attempt(db, cid, PHONES[2], state="failed", run=1, ago=timedelta(minutes=1))
    _end_run(db, cid)
    reruns.rerun(db, cid, now=NOW, outcomes=[OutcomeClass.BUSY])
    campaign = db.get_one(CampaignRow, cid)

    claimed = claim_due_contacts(
        db,
        campaign_id=cid,
        run_id=campaign.current_run_id,
        spec=load_spec(campaign.spec),
        now=NOW,
        limit=10,
    )

    assert len(claimed.attempt_ids) == 1  # PHONES[5]: busy, cancelled, never called in run 1
    assert claimed.capped == 1  # PHONES[2]: called a minute ago in run 1
    contact = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid, ContactRow.phone == PHONES[2])
    ).one()
    assert (contact.next_due_at, contact.waiting_reason) == (
        NOW + timedelta(minutes=9),
        "frequency",
    )


def test_upload_to_a_completed_campaign_reopens_it_for_the_new_contacts(db: Session) -> None:
    cid = _campaign(db)
    _end_run(db, cid)

    report = _upload(db, cid, "2015550200", "2015550201")

    assert (report.accepted, report.reopened_run) == (2, 2)
    assert report.note == f"campaign {cid} had completed: run 2 opened to call the 2 new contacts"
    assert report.to_dict()["reopened_run"] == 2
    assert db.get_one(CampaignRow, cid).state == "running"
    assert sorted(_states(db, cid).values()).count("pending") == 2  # only the new ones


def test_upload_to_a_completed_recurring_campaign_waits_for_its_next_run(db: Session) -> None:
    cid = _campaign(db, schedule={"cron": "0 10 * * *", "timezone": "America/Chicago"})
    _end_run(db, cid)

    report = _upload(db, cid, "2015550200")

    campaign = db.get_one(CampaignRow, cid)
    assert report.reopened_run is None
    assert campaign.next_run_at is not None
    assert report.note == (
        f"campaign {cid} is between runs: the new contacts are called in its next run "
        f"({campaign.next_run_at.isoformat()})"
    )
    assert campaign.state == "completed"


def test_upload_to_a_running_campaign_says_nothing_more(db: Session) -> None:
    cid = _campaign(db)
    report = _upload(db, cid, "2015550200")
    assert (report.accepted, report.reopened_run, report.note) == (1, None, None)
