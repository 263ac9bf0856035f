"""The per-attempt export CSV, streamed.

One row per attempt through a server-side cursor, so a campaign of millions of attempts is never
loaded whole; the CLI writes it to a file and the API streams it in chunks. Columns are only ever
added at the end, so existing readers keep working.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import lru_cache
from typing import IO
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow, RunRow
from campaign.services.campaigns import get_campaign_row
from campaign.services.csv_files import SafeCsvWriter

EXPORT_COLUMNS = (
    "contact_id",
    "external_id",
    "number",
    "zone",
    "local_time",
    "run",
    "attempt",
    "outcome",
    "status",
    "reasonCode",
    "sip_code",
    "amd",
    "duration",
    "sid",
    "callId",
    "conversationId",
    "decision",
    "disposition",
    "disposition_label",
    "caller",
)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return None


_EXPORT_SELECT = (
    AttemptRow.contact_id,
    ContactRow.external_id,
    AttemptRow.phone,
    ContactRow.zones,
    func.coalesce(AttemptRow.sending_at, AttemptRow.claimed_at, AttemptRow.queued_at),
    RunRow.number,
    AttemptRow.number,
    AttemptRow.outcome,
    AttemptRow.state,
    AttemptRow.reason_code,
    AttemptRow.sip_code,
    AttemptRow.amd,
    AttemptRow.duration_s,
    AttemptRow.sid,
    AttemptRow.call_id,
    AttemptRow.conversation_id,
    AttemptRow.decision,
    AttemptRow.disposition,
    AttemptRow.disposition_label,
    AttemptRow.caller,
)


def export_rows(session: Session, campaign_id: int, *, chunk: int = 2000) -> Iterator[list[object]]:
    """One row per attempt (EXPORT_COLUMNS order), oldest first, through a server-side cursor.

    `local_time` is when the call was sent (else claimed, else queued) in the contact's first
    zone. Must run inside a transaction (server-side cursors live in one).
    """
    get_campaign_row(session, campaign_id)
    query = (
        select(*_EXPORT_SELECT)
        .join(ContactRow, ContactRow.id == AttemptRow.contact_id)
        .outerjoin(RunRow, RunRow.id == AttemptRow.run_id)
        .where(AttemptRow.campaign_id == campaign_id)
        .order_by(AttemptRow.id)
        .execution_options(yield_per=chunk)
    )
    for contact_id, external_id, phone, zones, at, *rest in session.execute(query).tuples():
        zone_name = zones[0] if zones else "UTC"
        zone = _zone(zone_name)
        local = at.astimezone(zone) if zone else at
        tail = ["" if value is None else value for value in rest]
        yield [contact_id, external_id or "", phone, zone_name, local.isoformat(), *tail]


def _write_export(session: Session, campaign_id: int, out: IO[str]) -> Iterator[int]:
    """Write the header, then each attempt row, yielding the count so far after each row.

    Values from uploads and from the gateway are anyone's text: cells a spreadsheet would run as
    formulas are neutralised (csv_files), phone numbers kept as they are.
    """
    writer = SafeCsvWriter(out)
    writer.writerow(EXPORT_COLUMNS)
    for number, row in enumerate(export_rows(session, campaign_id), 1):
        writer.writerow(row)
        yield number


def write_export(session: Session, campaign_id: int, out: IO[str]) -> int:
    """Write the export CSV (header + one row per attempt) to `out`; returns the row count."""
    count = 0
    for count in _write_export(session, campaign_id, out):  # noqa: B007 - the last count is kept
        pass
    return count


def export_chunks(session: Session, campaign_id: int, rows_per_chunk: int = 1000) -> Iterator[str]:
    """The export CSV as text chunks of `rows_per_chunk` rows, for a streamed response."""
    buffer = io.StringIO()
    for number in _write_export(session, campaign_id, buffer):
        if number % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
