"""Recurring runs: exact occurrences across DST (pure), and runs started or skipped (PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import CampaignRow, ContactRow, DncRow, RunRow
from campaign.domain.recurrence import next_run
from campaign.services import campaigns, lifecycle, uploads
from schedules.recurrence import start_due_runs
from tests.operator.conftest import csv_bytes, spec_doc

CHICAGO = "America/Chicago"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_ten_am_chicago_follows_the_spring_change() -> None:
    after = utc(2026, 3, 2, 17)  # Monday, after 10:00 CST
    first = next_run("0 10 * * MON", CHICAGO, after)
    assert first == utc(2026, 3, 9, 15)  # 10:00 CDT (UTC-5) after the 8 March change
    assert next_run("0 10 * * MON", CHICAGO, utc(2026, 2, 23, 12)) == utc(2026, 2, 23, 16)


def test_daily_ten_am_chicago_follows_the_autumn_change() -> None:
    assert next_run("0 10 * * *", CHICAGO, utc(2026, 10, 31, 16)) == utc(2026, 11, 1, 16)
    assert next_run("0 10 * * *", CHICAGO, utc(2026, 10, 30, 16)) == utc(2026, 10, 31, 15)


def test_a_wall_time_skipped_by_dst_runs_just_past_the_jump() -> None:
    # 02:30 does not exist in Chicago on 2026-03-08; it runs at 03:30 CDT = 08:30 UTC.
    assert next_run("30 2 * * *", CHICAGO, utc(2026, 3, 7, 12)) == utc(2026, 3, 8, 8, 30)


def test_a_wall_time_repeated_by_dst_runs_once() -> None:
    # 01:30 happens twice on 2026-11-01 (CDT, then CST): only the first counts.
    first = next_run("30 1 * * *", CHICAGO, utc(2026, 10, 31, 12))
    assert first == utc(2026, 11, 1, 6, 30)
    assert next_run("30 1 * * *", CHICAGO, first) == utc(2026, 11, 2, 7, 30)


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)))
def test_next_run_is_strictly_later_and_at_ten_local(naive: datetime) -> None:
    after = naive.replace(tzinfo=UTC)
    at = next_run("0 10 * * *", CHICAGO, after)
    local = at.astimezone(ZoneInfo(CHICAGO))
    assert at > after
    assert (local.hour, local.minute) == (10, 0)
    assert at - after <= timedelta(days=1, hours=1)


@pytest.fixture
def recurring(db: Session) -> int:
    doc = spec_doc(schedule={"cron": "0 10 * * *", "timezone": CHICAGO})
    cid = campaigns.create_campaign(db, doc).id
    contacts = csv_bytes("phone\n2015550123\n2015550124\n")
    uploads.import_contacts(db, cid, contacts, now=utc(2026, 3, 6))
    lifecycle.start(db, cid, now=utc(2026, 3, 6, 12))
    return cid


def _runs(db: Session, cid: int) -> list[tuple[int, str]]:
    query = select(RunRow.number, RunRow.state).where(RunRow.campaign_id == cid)
    return list(db.execute(query.order_by(RunRow.number)).tuples())


def _finish_all(db: Session, cid: int) -> None:
    for contact in db.scalars(select(ContactRow).where(ContactRow.campaign_id == cid)):
        contact.state = "done"
        contact.next_due_at = None
    db.flush()


def test_runs_start_at_each_occurrence_across_dst_and_rearm_contacts(
    db: Session, recurring: int
) -> None:
    campaign = db.get(CampaignRow, recurring)
    assert campaign is not None
    assert campaign.next_run_at == utc(2026, 3, 6, 16)  # 10:00 CST
    assert start_due_runs(db, utc(2026, 3, 6, 15, 59)) == []
    notes = start_due_runs(db, utc(2026, 3, 6, 16))
    assert notes
    assert "run 1 started" in notes[0]
    assert campaign.state == "running"
    _finish_all(db, recurring)
    for day, hour in ((7, 16), (8, 15), (9, 15)):  # the clocks change on Sunday 8 March
        assert campaign.next_run_at == utc(2026, 3, day, hour)
        if day == 9:
            db.add(DncRow(phone="+12015550124"))
            db.flush()
        start_due_runs(db, campaign.next_run_at)
        states = db.scalars(select(ContactRow.state).where(ContactRow.campaign_id == recurring))
        if day == 9:
            assert sorted(states) == ["pending", "suppressed"]
        else:
            assert set(states) == {"pending"}
        _finish_all(db, recurring)
    assert _runs(db, recurring) == [
        (1, "completed"),
        (2, "completed"),
        (3, "completed"),
        (4, "running"),
    ]


def test_an_occurrence_while_the_run_is_going_is_skipped_not_stacked(
    db: Session, recurring: int
) -> None:
    start_due_runs(db, utc(2026, 3, 6, 16))
    notes = start_due_runs(db, utc(2026, 3, 7, 16))
    assert notes == [f"campaign {recurring}: run 2 skipped: run 1 still going (2 contacts open)"]
    assert _runs(db, recurring) == [(1, "running"), (2, "skipped")]
    query = select(RunRow).where(RunRow.number == 2, RunRow.campaign_id == recurring)
    skipped = db.scalars(query).one()
    assert skipped.scheduled_for == utc(2026, 3, 7, 16)


def test_missed_occurrences_start_one_run_and_move_on(db: Session, recurring: int) -> None:
    start_due_runs(db, utc(2026, 3, 12, 18))
    campaign = db.get(CampaignRow, recurring)
    assert campaign is not None
    assert _runs(db, recurring) == [(1, "running")]
    assert campaign.next_run_at == utc(2026, 3, 13, 15)
