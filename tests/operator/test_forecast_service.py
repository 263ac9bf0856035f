"""The forecast service on real PostgreSQL: it reads the right run, its contacts' histories and
the campaign's own calls, and states what it assumes."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, RunRow
from campaign.domain.outcomes import OutcomeClass
from campaign.errors import InvalidInput, NotFound, SpecInvalid, UploadRefused
from campaign.services import campaigns, lifecycle, reporting, uploads
from campaign.services.forecast import forecast_campaign
from campaign.services.forecast_reads import observations
from campaign.services.forecast_what_if import forecast_what_if
from tests.operator.conftest import NOW, csv_bytes, spec_doc

ONE_CALL_EACH = {"max_attempts": 1, "outcomes": {"unavailable": None, "gateway_error": None}}
BUSY_TWICE_MORE = {
    "max_attempts": 5,
    "outcomes": {"busy": {"delays": ["2m", "10m"]}, "unavailable": None, "gateway_error": None},
}


def _campaign(db: Session, rows: int, *, start: bool = True, **spec: Any) -> int:
    cid = campaigns.create_campaign(db, spec_doc(**spec)).id
    phones = "\n".join(f"+1201555{i:04d}" for i in range(rows))
    uploads.import_contacts(db, cid, csv_bytes("phone\n" + phones + "\n"), now=NOW)
    if start:
        lifecycle.start(db, cid, now=NOW)
    return cid


def _calls(
    db: Session, cid: int, outcome: str, count: int, *, number: int = 1, **fields: Any
) -> None:
    """`count` ended calls of `outcome`, one per contact (in upload order), 20 s each."""
    row = db.get(CampaignRow, cid)
    assert row is not None
    contacts = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid).order_by(ContactRow.id)
    ).all()
    for contact in contacts[:count]:
        db.add(
            AttemptRow(
                campaign_id=cid,
                run_id=row.current_run_id,
                contact_id=contact.id,
                number=number,
                phone=contact.phone,
                state="completed",
                queued_at=NOW - timedelta(minutes=5),
                sending_at=NOW - timedelta(minutes=5),
                ended_at=NOW - timedelta(minutes=5) + timedelta(seconds=20),
                outcome=outcome,
                **fields,
            )
        )
    db.flush()


def test_a_draft_is_forecast_as_if_started_now_on_stated_assumptions(db: Session) -> None:
    cid = _campaign(db, 30, start=False, retry=ONE_CALL_EACH)

    data = forecast_campaign(db, cid, now=NOW).to_dict()

    assert data["calls_remaining"] == {"p50": 30, "p90": 30}
    assert data["basis"] == "assumed"
    assert data["assumptions"][0] == "as if started now"
    assert data["run"] is None
    # 10 live calls of about a minute (assumed) bind: 30 calls take a few minutes.
    finish = datetime.fromisoformat(data["finish_utc"]["p50"])
    assert NOW + timedelta(minutes=2) < finish < NOW + timedelta(minutes=10)
    assert data["limited_by"] == "live calls"
    assert set(data) >= {
        "as_of",
        "finish",
        "calls_remaining",
        "contacts_reached",
        "outcomes",
        "by_day",
        "limited_by",
        "never_finishes",
        "basis",
    }


def test_a_running_campaign_learns_its_outcome_mix_and_call_lengths(db: Session) -> None:
    cid = _campaign(db, 200, retry=ONE_CALL_EACH, pacing={"cps": 5, "max_live_calls": 2})
    _calls(db, cid, "human", 60)
    for contact in db.scalars(select(ContactRow).where(ContactRow.campaign_id == cid)).all()[:60]:
        contact.state = "done"
    db.flush()

    data = forecast_campaign(db, cid, now=NOW).to_dict()

    assert data["basis"] == "observed"
    assert data["outcomes"]["human"] > 0.8
    assert data["calls_remaining"]["p50"] == 140
    assert 60 + 110 <= data["contacts_reached"]["p50"] <= 200  # the 60 already reached count
    # 2 live calls of about 20 s: 0.1 calls/s binds, not the 5/s pace.
    assert data["limited_by"] == "live calls"
    finish = datetime.fromisoformat(data["finish_utc"]["p50"])
    assert timedelta(minutes=15) < finish - NOW < timedelta(minutes=40)


def test_each_contact_is_forecast_from_its_own_history_in_this_run(db: Session) -> None:
    cid = _campaign(db, 42, retry=BUSY_TWICE_MORE)
    _calls(db, cid, "busy", 42, number=1)  # every contact busy once (and the mix: all busy)
    _calls(db, cid, "busy", 1, number=2)  # the first contact busy twice
    contacts = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid).order_by(ContactRow.id)
    ).all()
    for contact in contacts[2:]:
        contact.state = "exhausted"
    db.flush()

    data = forecast_campaign(db, cid, now=NOW).to_dict()

    # busy closes at its third ending: the first contact has one call left, the second two.
    assert data["calls_remaining"]["p50"] == 1 + 2
    assert max(data["outcomes"], key=data["outcomes"].__getitem__) == "busy"
    assert data["limited_by"] == "retry delays"


def test_calls_in_flight_are_not_placed_again(db: Session) -> None:
    cid = _campaign(db, 3, retry=ONE_CALL_EACH)
    contacts = db.scalars(select(ContactRow).where(ContactRow.campaign_id == cid)).all()
    for contact in contacts:
        contact.state, contact.attempts = "in_flight", 1
    db.flush()
    _calls(db, cid, "human", 3)
    db.execute(
        AttemptRow.__table__.update()
        .where(AttemptRow.campaign_id == cid)
        .values(outcome=None, state="accepted", ended_at=None)
    )

    data = forecast_campaign(db, cid, now=NOW).to_dict()

    assert data["calls_remaining"] == {"p50": 0, "p90": 0}
    assert data["never_finishes"] == []


def test_a_paused_campaign_is_forecast_as_if_resumed_now(db: Session) -> None:
    cid = _campaign(db, 5)
    lifecycle.pause(db, cid)

    data = forecast_campaign(db, cid, now=NOW).to_dict()

    assert data["assumptions"][0] == "as if resumed now"
    assert data["run"] == 1


def test_a_finished_campaign_reports_when_it_finished(db: Session) -> None:
    cid = _campaign(db, 2)
    _calls(db, cid, "human", 2)
    ended = NOW + timedelta(minutes=3)
    lifecycle.cancel(db, cid, now=ended)

    data = forecast_campaign(db, cid, now=NOW + timedelta(hours=1)).to_dict()

    assert data["finish_utc"] == {k: ended.isoformat() for k in ("p10", "p50", "p90")}
    assert data["calls_remaining"] == {"p50": 0, "p90": 0}
    assert data["contacts_reached"] == {"p50": 2, "p90": 2}
    assert data["limited_by"] is None


def test_a_recurring_campaign_is_forecast_per_run_from_its_next_start(db: Session) -> None:
    schedule = {"cron": "0 10 * * MON", "timezone": "America/Chicago"}
    cid = _campaign(db, 10, schedule=schedule, retry=ONE_CALL_EACH)  # NOW is a Monday 09:00 CST
    row = db.get(CampaignRow, cid)
    assert row is not None
    assert row.state == "scheduled"

    data = forecast_campaign(db, cid, now=NOW).to_dict()

    assert data["run"] == 1
    assert data["run_starts"] == "2026-03-02T10:00:00-06:00"
    assert data["timezone"] == "America/Chicago"
    assert data["calls_remaining"]["p50"] == 10
    assert datetime.fromisoformat(data["finish_utc"]["p10"]) > datetime.fromisoformat(
        data["run_starts"]
    )


def test_observations_weigh_the_latest_calls_most(db: Session) -> None:
    cid = _campaign(db, 10)
    _calls(db, cid, "busy", 10)
    _calls(db, cid, "human", 10, number=2)

    seen = observations(db, cid, NOW)

    assert seen.calls == 20
    assert seen.mix[2][OutcomeClass.HUMAN] > seen.mix[1][OutcomeClass.BUSY]
    assert seen.occupancy_s[OutcomeClass.HUMAN][0] == pytest.approx(20.0)


def test_pacing_overrides_change_the_forecast_and_bad_ones_name_the_flag(db: Session) -> None:
    cid = _campaign(db, 100, retry=ONE_CALL_EACH, pacing={"cps": 1, "max_live_calls": 50})

    slow = forecast_campaign(db, cid, now=NOW).to_dict()
    fast = forecast_campaign(db, cid, now=NOW, cps=10).to_dict()

    assert fast["finish_utc"]["p50"] < slow["finish_utc"]["p50"]
    with pytest.raises(InvalidInput, match="--max-live-calls: must be at least 1"):
        forecast_campaign(db, cid, now=NOW, max_live_calls=0)


def test_status_carries_the_forecast_and_takes_its_eta_from_the_median(db: Session) -> None:
    cid = _campaign(db, 20, retry=ONE_CALL_EACH)

    status = reporting.campaign_status(db, cid, NOW).to_dict()

    assert {
        "id",
        "state",
        "contacts",
        "outcomes",
        "attempts",
        "live_calls",
        "calls_per_second",
        "waiting",
        "eta_seconds",
    } <= set(status)
    p50 = datetime.fromisoformat(status["forecast"]["finish_utc"]["p50"])
    assert status["eta_seconds"] == pytest.approx((p50 - NOW).total_seconds(), abs=0.1)


def test_an_unknown_campaign_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound):
        forecast_campaign(db, 10**12, now=NOW)


def test_what_if_judges_rows_as_the_upload_does_and_stores_nothing(db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(CampaignRow))
    data = csv_bytes(
        "phone,external_id\n2015550123,a\n12,b\n2015550124,c\n2015550124,d\n2015550125,a\n"
    )

    result, read = forecast_what_if(spec_doc(retry=ONE_CALL_EACH), data, name="c.csv", now=NOW)

    assert (read.rows, read.accepted, read.duplicates) == (5, 2, 2)
    assert [p.to_dict() for p in read.rejected] == [
        {"line": 3, "value": "12", "reason": "not a valid number for region US"}
    ]
    assert result.to_dict()["calls_remaining"]["p50"] == 2
    assert "the do-not-call list was not consulted" in result.to_dict()["assumptions"]
    assert db.scalar(select(func.count()).select_from(CampaignRow)) == before
    assert (
        db.scalar(select(func.count()).select_from(RunRow).where(RunRow.campaign_id > 10**9)) == 0
    )


def test_what_if_refuses_what_the_upload_refuses(db: Session) -> None:
    with pytest.raises(SpecInvalid, match=r"pacing\.cps"):
        forecast_what_if(spec_doc(pacing={"cps": 0}), csv_bytes("phone\n"), name="c", now=NOW)
    with pytest.raises(UploadRefused, match="no phone column"):
        forecast_what_if(spec_doc(), io.BytesIO(b"name\nAnn\n"), name="c.csv", now=NOW)


def test_a_pace_the_engine_does_not_reach_is_replaced_by_the_one_it_does(db: Session) -> None:
    cid = _campaign(db, 400, retry=ONE_CALL_EACH, pacing={"cps": 10, "max_live_calls": 500})
    contacts = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid).order_by(ContactRow.id)
    ).all()
    run_id = db.get_one(CampaignRow, cid).current_run_id
    for i, contact in enumerate(contacts[:100]):  # 2 calls/s for the last 50 s, 300 still due
        sent = NOW - timedelta(seconds=50) + timedelta(seconds=i / 2)
        contact.state = "done"
        db.add(
            AttemptRow(
                campaign_id=cid, run_id=run_id, contact_id=contact.id, number=1,
                phone=contact.phone, state="completed", queued_at=sent, sending_at=sent,
                ended_at=sent + timedelta(seconds=1), outcome="human",
            )
        )  # fmt: skip
    for contact in contacts[100:]:
        contact.next_due_at = NOW - timedelta(minutes=1)
    db.flush()

    data = forecast_campaign(db, cid, now=NOW).to_dict()
    at_configured = forecast_campaign(db, cid, now=NOW, cps=10).to_dict()

    assert data["assumptions"] == [
        "calls went out at 2.00/s lately, below the pace of 9.76/s: forecast at that rate"
    ]
    # 300 calls at 2/s, not at 9.76/s.
    finish = datetime.fromisoformat(data["finish_utc"]["p50"])
    assert timedelta(seconds=140) < finish - NOW < timedelta(seconds=160)
    assert at_configured["assumptions"] == []


def test_calls_too_recent_to_have_all_ended_are_left_out_of_the_mix(db: Session) -> None:
    cid = _campaign(db, 60)
    _calls(db, cid, "human", 20)  # five minutes ago, 20 s each: settled
    run_id = db.get_one(CampaignRow, cid).current_run_id
    contacts = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid).order_by(ContactRow.id)
    ).all()
    for i, contact in enumerate(contacts[20:60]):  # lately: the busy ones have ended already
        busy, sent = i % 2 == 0, NOW - timedelta(seconds=8 - i / 5)
        db.add(
            AttemptRow(
                campaign_id=cid, run_id=run_id, contact_id=contact.id, number=1,
                phone=contact.phone, state="failed" if busy else "answered",
                queued_at=sent, sending_at=sent,
                ended_at=sent + timedelta(seconds=1) if busy else None,
                outcome="busy" if busy else None,
            )
        )  # fmt: skip
    db.flush()

    seen = observations(db, cid, NOW)

    # Read up to where calls still live begin (one straggler allowed): 2 busy calls of 20.
    assert seen.calls == 22
    assert seen.mix[1][OutcomeClass.BUSY] == pytest.approx(2.0, abs=0.01)
