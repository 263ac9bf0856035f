"""Contacts upload through the real path (CSV stream, COPY, INSERT … ON CONFLICT) on PostgreSQL."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import ContactRow, DncRow
from campaign.errors import Conflict, InvalidInput, UploadRefused
from campaign.services import campaigns, lifecycle, uploads
from tests.operator.conftest import NOW, csv_bytes


@pytest.fixture
def campaign_id(db: Session, spec: dict[str, Any]) -> int:
    return campaigns.create_campaign(db, spec).id


def _contacts(db: Session, campaign_id: int) -> list[ContactRow]:
    query = select(ContactRow).where(ContactRow.campaign_id == campaign_id)
    return list(db.scalars(query.order_by(ContactRow.line_no)))


def _upload(db: Session, campaign_id: int, data: io.BytesIO, **kw: Any) -> uploads.UploadReport:
    return uploads.import_contacts(db, campaign_id, data, now=NOW, **kw)


def test_good_rows_become_pending_contacts_due_now(db: Session, campaign_id: int) -> None:
    data = csv_bytes(
        "phone,external_id,timezone,first_name\n"
        "+12015550123,c-1,America/Chicago,Ann\n"
        "(212) 555-0199,c-2,,Bob\n"
    )
    report = _upload(db, campaign_id, data)
    assert report.to_dict()["accepted"] == 2
    rows = _contacts(db, campaign_id)
    assert [(r.phone, r.external_id, r.line_no) for r in rows] == [
        ("+12015550123", "c-1", 2),
        ("+12125550199", "c-2", 3),
    ]
    assert rows[0].zones == ["America/Chicago"]
    assert rows[1].zones == ["America/New_York"]
    assert rows[0].metadata_ == {"first_name": "Ann"}
    assert all(r.state == "pending" and r.next_due_at == NOW and r.attempts == 0 for r in rows)


def test_ten_percent_bad_rows_are_each_reported_and_every_good_row_stored(
    db: Session, campaign_id: int
) -> None:
    lines = ["phone,name"]
    bad_lines = []
    for i in range(200):
        if i % 10 == 3:
            lines.append(f"12345{i},bad")
            bad_lines.append(i + 2)
        else:
            lines.append(f"+1201555{i:04d},good")
    report = _upload(db, campaign_id, csv_bytes("\n".join(lines) + "\n"))
    assert report.accepted == 180
    assert [r.line for r in report.rejected] == bad_lines
    assert all(r.reason and r.value.startswith("12345") for r in report.rejected)
    assert len(_contacts(db, campaign_id)) == 180


def test_bom_crlf_quotes_blank_lines_and_ragged_rows(db: Session, campaign_id: int) -> None:
    text = (
        'phone,"note, quoted",extra\n'
        '"+1 201 555 0123","says ""hi""\nover two lines",x\n'
        "\n"
        "+12015550124\n"
        "+12015550125,n,x,surplus,cells\n"
        ",,\n"
        "+12015550126,last\n"
    )
    report = _upload(db, campaign_id, csv_bytes(text, bom=True, crlf=True))
    assert report.accepted == 4
    assert report.rejected == []
    rows = _contacts(db, campaign_id)
    assert [r.line_no for r in rows] == [2, 5, 6, 8]
    assert rows[0].metadata_ == {"note, quoted": 'says "hi"\r\nover two lines', "extra": "x"}


def test_duplicates_in_file_and_against_campaign_are_counted_not_stored(
    db: Session, campaign_id: int
) -> None:
    first = _upload(db, campaign_id, csv_bytes("phone,external_id\n+12015550123,a\n"))
    assert first.accepted == 1
    data = csv_bytes(
        "phone,external_id\n"
        "+12015550123,b\n"  # same number as the earlier upload
        "+12015550124,c\n"
        "201-555-0124,d\n"  # same number as line 3, written differently
        "+12015550125,c\n"  # same external_id as line 3
        "+12015550126,a\n"  # external_id of the earlier upload
    )
    report = _upload(db, campaign_id, data)
    assert (report.accepted, report.duplicates) == (1, 4)
    reasons = {p.line: p.reason for p in report.duplicate_rows}
    assert reasons[2] == "already in the campaign"
    assert reasons[4] == "duplicate of line 3"
    assert reasons[5] == "duplicate of line 3"
    assert reasons[6] == "already in the campaign"
    assert len(_contacts(db, campaign_id)) == 2


def test_do_not_call_numbers_are_stored_suppressed(db: Session, campaign_id: int) -> None:
    db.add(DncRow(phone="+12015550124"))
    db.add(DncRow(phone="+12015550125", expires_at=NOW.replace(year=2020)))
    report = _upload(db, campaign_id, csv_bytes("phone\n2015550123\n2015550124\n2015550125\n"))
    assert (report.accepted, report.suppressed) == (2, 1)
    states = {r.phone: (r.state, r.next_due_at) for r in _contacts(db, campaign_id)}
    assert states["+12015550124"] == ("suppressed", None)
    assert states["+12015550125"][0] == "pending"


def test_country_column_and_region_override(db: Session, campaign_id: int) -> None:
    data = csv_bytes("phone,country\n07911 123456,GB\n2015550123,\n")
    report = _upload(db, campaign_id, data, default_region="us")
    assert report.accepted == 2
    assert {r.phone for r in _contacts(db, campaign_id)} == {"+447911123456", "+12015550123"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"name,email\n+12015550123,x\n", "no phone column"),
        (b"phone,Phone\n+12015550123,x\n", "appears twice"),
        ("phone\n+12015550123\n".encode("utf-16"), "UTF-16"),
        (b"phone\n+12015550123\n\xff\xfe\n", "line 3 is not UTF-8"),
        ("phone\n+12015550123\n".encode("utf-16-le"), "no phone column"),
    ],
)
def test_unreadable_files_are_refused_whole_and_nothing_stored(
    db: Session, campaign_id: int, data: bytes, message: str
) -> None:
    with pytest.raises(UploadRefused, match=message), db.begin_nested():
        _upload(db, campaign_id, io.BytesIO(data), name="contacts.csv")
    assert _contacts(db, campaign_id) == []


def test_upload_to_cancelled_campaign_conflicts(db: Session, campaign_id: int) -> None:
    lifecycle.cancel(db, campaign_id, now=NOW)
    with pytest.raises(Conflict):
        _upload(db, campaign_id, csv_bytes("phone\n+12015550123\n"))


def test_rejects_csv_lists_every_rejected_row(db: Session, campaign_id: int) -> None:
    report = _upload(db, campaign_id, csv_bytes("phone\nnope\n+12015550123\n\n+99\n"))
    out = io.StringIO()
    report.write_rejects_csv(out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "line,value,reason"
    assert [line.split(",")[0] for line in lines[1:]] == ["2", "5"]


def test_big_file_through_worker_processes_keeps_order_and_counts(
    db: Session, campaign_id: int
) -> None:
    rows = 12_000
    body = "".join(f"+1201{2000000 + i},x\n" if i % 1000 else f"bad{i},x\n" for i in range(rows))
    report = _upload(db, campaign_id, csv_bytes("phone,v\n" + body), workers=2)
    assert report.rows == rows
    assert [p.line for p in report.rejected] == [i + 2 for i in range(0, rows, 1000)]
    assert report.accepted + report.duplicates == rows - 12


def test_unknown_region_is_refused_before_reading(db: Session, campaign_id: int) -> None:
    with pytest.raises(InvalidInput, match='region "XX"'):
        _upload(db, campaign_id, csv_bytes("phone\n2015550123\n"), default_region="xx")


def test_priority_column_is_stored_and_a_bad_one_rejects_its_row(
    db: Session, campaign_id: int
) -> None:
    data = csv_bytes(
        "phone,priority,name\n+12015550123,10,Ann\n+12015550124,,Bob\n+12015550125,urgent,Cy\n"
        "+12015550126,-2,Di\n+12015550127,101,Ed\n"
    )
    report = _upload(db, campaign_id, data).to_dict()
    assert report["accepted"] == 3
    assert [(r["line"], r["value"]) for r in report["rejected"]] == [(4, "urgent"), (6, "101")]
    reason = 'priority "urgent" is not a whole number (-100 to 100)'
    assert report["rejected"][0]["reason"] == reason
    rows = _contacts(db, campaign_id)
    assert [(r.phone, r.priority, r.metadata_) for r in rows] == [
        ("+12015550123", 10, {"name": "Ann"}),
        ("+12015550124", 0, {"name": "Bob"}),
        ("+12015550126", -2, {"name": "Di"}),
    ]
