"""Files operators open in a spreadsheet cannot run formulas; uploads and reports are bounded."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy.orm import Session

from campaign.errors import UploadRefused
from campaign.services import dnc_admin, export, uploads
from campaign.services.csv_files import (
    MAX_LINE_BYTES,
    MAX_VALUE_CHARS,
    REPORT_ROWS,
    neutralised,
)
from tests.operator.conftest import NOW, csv_bytes, running_campaign
from tests.operator.test_reporting_dnc import _attempt

FORMULAS = [
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "+1 555 0100 ext 9",  # letters after a plus: not a phone number as written
]
PHONES = ["+12706165788", "+1 (270) 616-5788", "+44 20 7946.0958"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(value: str) -> None:
    assert neutralised(value) == "'" + value


@pytest.mark.parametrize("value", [*PHONES, "plain", "", "a=b", "x+1", 5, -3, 2.5, None])
def test_phone_numbers_and_ordinary_values_are_written_as_they_are(value: object) -> None:
    assert neutralised(value) == value


@pytest.fixture
def running(db: Session, spec: dict[str, Any]) -> int:
    return running_campaign(
        db, spec, 'phone,external_id\n2015550123,"=HYPERLINK(""http://x"",""y"")"\n'
    )


def test_the_export_neutralises_formulas_and_keeps_phone_numbers_readable(
    db: Session, running: int
) -> None:
    _attempt(db, running, outcome="failed", reason_code="@SUM(A1:A9)", decision="-1+cmd|x!A0")
    out = io.StringIO()
    export.write_export(db, running, out)
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["number"] == "+12015550123"
    assert row["external_id"] == '\'=HYPERLINK("http://x","y")'
    assert row["reasonCode"] == "'@SUM(A1:A9)"
    assert row["decision"] == "'-1+cmd|x!A0"
    streamed = "".join(export.export_chunks(db, running, rows_per_chunk=1))
    assert streamed == out.getvalue()


def test_the_rejects_file_neutralises_formulas(db: Session, running: int) -> None:
    data = csv_bytes("phone\n\"=cmd|' /C calc'!A0\"\n@SUM(1)\n+1 555 ext\n")
    report = uploads.import_contacts(db, running, data, now=NOW)
    out = io.StringIO()
    report.write_rejects_csv(out)
    values = [row["value"] for row in csv.DictReader(io.StringIO(out.getvalue()))]
    assert values == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "'+1 555 ext"]


def test_a_file_without_newlines_is_refused_not_read_whole(db: Session, running: int) -> None:
    data = io.BytesIO(b"phone," + b"x" * (MAX_LINE_BYTES + 10))
    with pytest.raises(UploadRefused, match="line 1 is longer than 65536 bytes"):
        uploads.import_contacts(db, running, data, now=NOW)


def test_a_row_of_quoted_lines_longer_than_the_bound_is_refused(db: Session, running: int) -> None:
    long_field = "\n".join(["y" * 1000] * 70)
    data = csv_bytes(f'phone,note\n+12015550100,"{long_field}"\n')
    with pytest.raises(UploadRefused, match="row starting on line 2 is longer than"):
        uploads.import_contacts(db, running, data, now=NOW)


def test_a_report_lists_a_bounded_number_of_rows_and_counts_the_rest(
    db: Session, running: int
) -> None:
    bad = REPORT_ROWS + 500
    body = "".join(f"{'9' * 300}{i}\n" for i in range(bad))
    body += "".join("+12015550123\n" for _ in range(REPORT_ROWS + 7))  # one stored, the rest twins
    report = uploads.import_contacts(db, running, csv_bytes("phone\n" + body), now=NOW)
    shown = report.to_dict()
    assert len(shown["rejected"]) == REPORT_ROWS
    assert (shown["rejected_total"], shown["rejected_omitted"]) == (bad, 500)
    assert all(len(p["value"]) <= MAX_VALUE_CHARS for p in shown["rejected"])
    assert len(shown["duplicate_rows"]) == REPORT_ROWS
    assert shown["duplicate_rows_omitted"] == shown["duplicates"] - REPORT_ROWS > 0
    every = uploads.import_contacts(db, running, csv_bytes("phone\n" + body), now=NOW, keep=None)
    assert len(every.rejected) == bad


def test_a_do_not_call_import_report_is_bounded_too(db: Session) -> None:
    body = "".join(f"nope{i}\n" for i in range(REPORT_ROWS + 3))
    report = dnc_admin.import_numbers(db, csv_bytes("phone\n" + body), now=NOW).to_dict()
    assert len(report["rejected"]) == REPORT_ROWS
    assert (report["rejected_total"], report["rejected_omitted"]) == (REPORT_ROWS + 3, 3)
