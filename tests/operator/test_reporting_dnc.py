"""Status, export and the do-not-call list on real PostgreSQL."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow, DncRow
from campaign.errors import InvalidInput
from campaign.services import dnc_admin, export, lifecycle, reporting
from tests.operator.conftest import NOW, csv_bytes, running_campaign


@pytest.fixture
def running(db: Session, spec: dict[str, Any]) -> int:
    text = "phone,external_id,timezone\n2015550123,a,America/Chicago\n2015550124,b,\n"
    return running_campaign(db, spec, text)


def _attempt(db: Session, cid: int, **fields: Any) -> AttemptRow:
    contact = db.scalars(
        select(ContactRow).where(ContactRow.campaign_id == cid).order_by(ContactRow.id)
    ).first()
    assert contact is not None
    row = AttemptRow(
        campaign_id=cid,
        contact_id=contact.id,
        phone=contact.phone,
        queued_at=NOW,
        run_id=db.get(lifecycle.CampaignRow, cid).current_run_id,  # type: ignore[union-attr]
        **{"number": 1, "state": "completed", **fields},
    )
    db.add(row)
    db.flush()
    return row


def test_status_counts_states_outcomes_live_calls_and_rate(db: Session, running: int) -> None:
    _attempt(db, running, outcome="busy", sending_at=NOW - timedelta(seconds=2))
    _attempt(db, running, number=2, state="accepted", sending_at=NOW - timedelta(seconds=1))
    _attempt(db, running, number=3, state="released")
    contact = db.scalars(select(ContactRow).where(ContactRow.campaign_id == running)).first()
    assert contact is not None
    contact.waiting_reason = "window"
    db.flush()
    status = reporting.campaign_status(db, running, NOW).to_dict()
    assert status["state"] == "running"
    assert status["contacts"] == {"pending": 2}
    assert status["outcomes"] == {"busy": 1}
    assert (status["attempts"], status["live_calls"]) == (2, 1)
    assert status["calls_per_second"] == pytest.approx(0.2)
    assert status["waiting"] == {"window": 1, "due": 1}
    # The ETA is the forecast's median finish, not open contacts over the recent rate.
    p50 = datetime.fromisoformat(status["forecast"]["finish_utc"]["p50"])
    assert status["eta_seconds"] == pytest.approx((p50 - NOW).total_seconds(), abs=0.1)
    assert [(r["number"], r["attempts"], r["outcomes"]) for r in status["runs"]] == [
        (1, 2, {"busy": 1})
    ]


def test_status_of_paused_campaign_says_why_contacts_wait(db: Session, running: int) -> None:
    lifecycle.pause(db, running)
    status = reporting.campaign_status(db, running, NOW)
    assert status.waiting == {"campaign paused": 2}
    assert status.paused_reason == "paused by operator"


def test_export_has_one_row_per_attempt_with_local_time(db: Session, running: int) -> None:
    _attempt(
        db,
        running,
        outcome="human",
        sending_at=NOW,
        sip_code=200,
        amd="human",
        duration_s=42,
        sid="s-1",
        call_id="c-1",
        conversation_id="v-1",
        reason_code="ok",
        caller="+12706165788",
    )
    out = io.StringIO()
    assert export.write_export(db, running, out) == 1
    header, row = out.getvalue().splitlines()
    assert header.split(",") == list(export.EXPORT_COLUMNS)
    values = dict(zip(export.EXPORT_COLUMNS, row.split(","), strict=True))
    assert values["local_time"] == "2026-03-02T09:00:00-06:00"
    assert values["zone"] == "America/Chicago"
    assert (values["external_id"], values["outcome"], values["sip_code"]) == ("a", "human", "200")
    assert (values["run"], values["duration"], values["callId"]) == ("1", "42", "c-1")
    assert export.EXPORT_COLUMNS[-1] == "caller"  # added last: existing readers keep working
    assert values["caller"] == "+12706165788"


def test_dnc_add_normalises_and_updates_expiry(db: Session) -> None:
    phones = dnc_admin.add_numbers(db, ["(201) 555-0177"], now=NOW, default_region="US")
    assert phones == ["+12015550177"]
    later = NOW + timedelta(days=3)
    dnc_admin.add_numbers(db, ["+12015550177"], now=NOW, expires_at=later, note="asked")
    row = db.get(DncRow, "+12015550177")
    assert row is not None
    assert (row.expires_at, row.note) == (later, "asked")


def test_dnc_add_refuses_invalid_numbers_naming_them(db: Session) -> None:
    with pytest.raises(InvalidInput, match='"12"'):
        dnc_admin.add_numbers(db, ["+12015550178", "12"], now=NOW)
    assert db.get(DncRow, "+12015550178") is None


def test_dnc_list_hides_expired_unless_asked(db: Session) -> None:
    dnc_admin.add_numbers(db, ["+12015550181"], now=NOW, expires_at=NOW - timedelta(days=1))
    dnc_admin.add_numbers(db, ["+12015550182"], now=NOW)
    listed, _ = dnc_admin.list_numbers(db, now=NOW, limit=1000, offset=0)
    every, _ = dnc_admin.list_numbers(db, now=NOW, limit=1000, offset=0, include_expired=True)
    assert "+12015550182" in {e.phone for e in listed}
    assert "+12015550181" not in {e.phone for e in listed}
    assert "+12015550181" in {e.phone for e in every}


def test_dnc_import_reports_bad_rows_and_lists_good_ones(db: Session) -> None:
    data = csv_bytes("phone,expires_at,note\n+12015550191,30d,x\nnope,,\n+12015550192,soon,\n")
    report = dnc_admin.import_numbers(db, data, now=NOW)
    assert report.added == 1
    assert [(p.line, p.value) for p in report.rejected] == [(3, "nope"), (4, "soon")]
    row = db.get(DncRow, "+12015550191")
    assert row is not None
    assert row.expires_at == NOW + timedelta(days=30)


def test_dnc_remove_unlists(db: Session) -> None:
    dnc_admin.add_numbers(db, ["+12015550193"], now=NOW)
    assert dnc_admin.remove_numbers(db, ["+12015550193", "+12015550194"]) == 1
    assert db.get(DncRow, "+12015550193") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", NOW + timedelta(days=2)),
        ("2026-03-05", NOW.replace(day=6, hour=0)),
        ("2026-03-05T10:00:00-05:00", NOW.replace(day=5, hour=15)),
    ],
)
def test_expiry_reads_durations_dates_and_instants(text: str, expected: object) -> None:
    assert dnc_admin.parse_expiry(text, NOW) == expected


def test_expiry_without_offset_is_refused() -> None:
    with pytest.raises(InvalidInput, match="offset"):
        dnc_admin.parse_expiry("2026-03-05T10:00:00", NOW)
