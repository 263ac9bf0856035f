"""The console's read side against real PostgreSQL: attempts paged and filtered, an attempt's
timeline, the pace series, the campaigns overview and why contacts wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow, NotificationRow
from campaign.errors import NotFound
from campaign.services import attempts, overview, pace
from tests.factories import add_contacts, make_campaign, spec, us_numbers

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def _attempt(session: Session, campaign_id: int, contact_id: int, **values: Any) -> int:
    row = {
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "number": 1,
        "phone": "+12012000000",
        "state": "completed",
        "queued_at": NOW - 600 * S,
        **values,
    }
    attempt_id: int = session.scalar(insert(AttemptRow).returning(AttemptRow.id), [row])
    return attempt_id


@pytest.fixture
def campaign(db: Session) -> tuple[int, list[int]]:
    cid = make_campaign(db, spec(pacing={"cps": 4, "max_live_calls": 3}))
    return cid, add_contacts(db, cid, us_numbers(6))


def test_attempts_are_newest_first_and_filter_by_outcome(
    db: Session, campaign: tuple[int, list[int]]
) -> None:
    cid, contacts = campaign
    ids = [
        _attempt(db, cid, contacts[i], outcome=outcome, state=state)
        for i, (outcome, state) in enumerate(
            [("busy", "failed"), ("human", "completed"), (None, "accepted"), ("busy", "failed")]
        )
    ]
    _attempt(db, cid, contacts[4], state="released")  # placed no call: not an attempt to show
    page, total = attempts.list_attempts(db, cid, outcome=None, limit=3, offset=0)
    assert total == 4
    assert [a.id for a in page] == ids[::-1][:3]
    busy, busy_total = attempts.list_attempts(db, cid, outcome="busy", limit=50, offset=0)
    assert (busy_total, [a.id for a in busy]) == (2, [ids[3], ids[0]])
    live, _ = attempts.list_attempts(db, cid, outcome=attempts.IN_PROGRESS, limit=50, offset=0)
    assert [a.id for a in live] == [ids[2]]


def test_an_attempts_detail_is_its_timeline_in_order_and_its_notifications(
    db: Session, campaign: tuple[int, list[int]]
) -> None:
    cid, contacts = campaign
    attempt_id = _attempt(
        db,
        cid,
        contacts[0],
        queued_at=NOW,
        claimed_at=NOW + S,
        sending_at=NOW + 2 * S,
        accepted_at=NOW + 3 * S,
        answered_at=NOW + 9 * S,
        ended_at=NOW + 40 * S,
        outcome="human",
        sip_code=200,
        amd="amd_human_detected",
        decision="done: human",
        caller="+12706165788",
    )
    for n, status in enumerate(("answered", "completed")):
        db.execute(
            insert(NotificationRow).values(
                attempt_id=attempt_id,
                received_at=NOW + (9 + 31 * n) * S,
                body=b"{}",
                headers={},
                dedupe_key=f"k{n}",
                status=status,
                result="applied",
            )
        )
    detail = attempts.attempt_detail(db, cid, attempt_id)
    steps = [(step.step, step.at) for step in detail.timeline]
    assert steps == [
        ("queued", NOW),
        ("claimed", NOW + S),
        ("sent", NOW + 2 * S),
        ("accepted", NOW + 3 * S),
        ("answered", NOW + 9 * S),
        ("ended", NOW + 40 * S),
    ]
    assert (detail.sip_code, detail.amd, detail.decision) == (
        200,
        "amd_human_detected",
        "done: human",
    )
    assert [n.status for n in detail.notifications] == ["answered", "completed"]
    assert detail.caller == "+12706165788"


def test_an_attempt_of_another_campaign_is_not_found(
    db: Session, campaign: tuple[int, list[int]]
) -> None:
    cid, contacts = campaign
    attempt_id = _attempt(db, cid, contacts[0])
    other = make_campaign(db, spec())
    with pytest.raises(NotFound, match=f"attempt {attempt_id} does not exist in campaign"):
        attempts.attempt_detail(db, other, attempt_id)


def test_pace_counts_dial_outs_per_interval_and_peak_live_calls(
    db: Session, campaign: tuple[int, list[int]]
) -> None:
    cid, contacts = campaign
    # Live since before the window and still live: counts in every interval.
    _attempt(db, cid, contacts[0], state="answered", sending_at=NOW - 100 * S)
    # Ended before the window: never counted.
    _attempt(db, cid, contacts[1], sending_at=NOW - 90 * S, ended_at=NOW - 50 * S)
    # Two dial-outs in the interval (-20 s, -10 s], one ends within it, one in the next one.
    _attempt(db, cid, contacts[2], sending_at=NOW - 19 * S, ended_at=NOW - 15 * S)
    _attempt(db, cid, contacts[3], sending_at=NOW - 18 * S, ended_at=NOW - 5 * S)
    # A dial-out whose notification never came: `lost` at its deadline.
    _attempt(db, cid, contacts[4], state="lost", sending_at=NOW - 9 * S, ended_at=NOW - 2 * S)
    result = pace.campaign_pace(db, cid, now=NOW, window=40 * S, step=10 * S)
    assert (result.cps_limit, result.max_live_calls) == (4.0, 3)
    assert [p.at for p in result.points] == [NOW - 30 * S, NOW - 20 * S, NOW - 10 * S, NOW]
    assert [p.calls_per_second for p in result.points] == [0, 0, 0.2, 0.1]
    assert [p.live_calls for p in result.points] == [1, 1, 3, 3]


def test_overview_sums_progress_and_pace_per_campaign(
    db: Session, campaign: tuple[int, list[int]]
) -> None:
    cid, contacts = campaign
    db.query(ContactRow).filter(ContactRow.id.in_(contacts[:2])).update(
        {"state": "done"}, synchronize_session=False
    )
    db.query(ContactRow).filter(ContactRow.id == contacts[2]).update(
        {"waiting_reason": "window"}, synchronize_session=False
    )
    _attempt(db, cid, contacts[3], state="accepted", sending_at=NOW - 2 * S)
    items, total = overview.campaign_overview(db, now=NOW, limit=500, offset=0)
    mine = next(item for item in items if item.id == cid)
    assert total >= 1
    assert (mine.total_contacts, mine.finished_contacts) == (6, 2)
    assert mine.waiting == {"window": 1, "due": 3}
    assert (mine.live_calls, mine.calls_per_second, mine.cps_limit) == (1, 0.1, 4.0)


def test_waiting_reasons_give_counts_and_the_earliest_due_time(
    db: Session, campaign: tuple[int, list[int]]
) -> None:
    cid, contacts = campaign
    for offset, contact in enumerate(contacts[:4]):
        db.query(ContactRow).filter(ContactRow.id == contact).update(
            {"waiting_reason": "window", "next_due_at": NOW + (10 - offset) * S},
            synchronize_session=False,
        )
    reasons = overview.waiting_reasons(db, cid)
    assert [(r.reason, r.contacts) for r in reasons] == [("window", 4), ("due", 2)]
    assert reasons[0].next_due_at == NOW + 7 * S
