"""Contacts upload: a streaming CSV import that reports every bad row and stores every good one.

The file is read row by row (never whole) and handled in batches: rows are validated by
`domain.contacts.validate_row` (optionally in worker processes), and each batch is COPYed into a
temporary table and moved with one `INSERT … SELECT … ORDER BY line ON CONFLICT DO NOTHING
RETURNING`, written by a second thread while the next batch is read. The whole upload is one
transaction, so the unique indexes on (campaign, phone) and (campaign, external_id) catch a
duplicate whether its twin came earlier in this file or from an earlier upload; every contact of
one upload carries the same `created_at` marker, which tells the two apart for the report.
Numbers on the do-not-call list, and contacts without consent when the account policy requires
it, are stored `suppressed` in the same statement, each with its reason in the report. Memory
stays flat in the file size: lines are bounded, and the report lists at most REPORT_ROWS bad rows.

A file that is not a CSV we can read (not UTF-8, no header, no `phone` column, a duplicated
column) raises `UploadRefused`; the caller's transaction then rolls back, so nothing is stored.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import IO, Any

import phonenumbers
from psycopg import Connection
from sqlalchemy.orm import Session

from campaign.domain.reasons import Closed
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import CampaignState, ContactEvent, ContactState, contact_transition
from campaign.errors import Conflict, InvalidInput
from campaign.services import account, audit
from campaign.services.campaigns import get_campaign_row
from campaign.services.contact_rows import CheckedBatch, check_rows
from campaign.services.csv_files import (
    REPORT_ROWS,
    CsvRows,
    RowProblem,
    list_some,
    read_header,
)
from campaign.services.specs import load_spec
from campaign.services.upload_report import UploadReport

BATCH_ROWS = 5000


def _batches(rows: Iterator[tuple[int, list[str]]]) -> Iterator[list[tuple[int, list[str]]]]:
    batch: list[tuple[int, list[str]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _checked(
    batches: Iterator[list[tuple[int, list[str]]]],
    check: Callable[[list[tuple[int, list[str]]]], CheckedBatch],
    workers: int,
) -> Iterator[CheckedBatch]:
    """Validated batches in file order; a pool of `workers` processes once a file is big.

    At most 2 × workers batches are in flight, so a huge file never piles up in memory. The pool
    uses `spawn` so it is safe from threaded processes (the API server).
    """
    first = next(batches, None)
    if first is None:
        return
    if workers < 1 or len(first) < BATCH_ROWS:
        yield check(first)
        yield from map(check, batches)
        return
    context = multiprocessing.get_context("spawn")
    # Niced: PostgreSQL and the writer are the serial part; validation fills the idle cycles.
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=os.nice, initargs=(10,)
    )
    with pool:
        pending: deque[Future[CheckedBatch]] = deque([pool.submit(check, first)])
        for batch in batches:
            pending.append(pool.submit(check, batch))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _prepare_stage(conn: Connection[Any]) -> datetime:
    """An empty stage table, and this upload's `created_at` marker (unique per upload)."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS contacts_upload_stage (line_no integer, phone text, "
        "external_id text, zones text[], metadata jsonb, region text, consent boolean, "
        "consent_on date, priority integer) ON COMMIT DROP"
    )
    conn.execute("TRUNCATE contacts_upload_stage")
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None  # noqa: S101 - SELECT without FROM returns one row
    marker: datetime = row[0]
    return marker


_INSERT = """
INSERT INTO contacts (campaign_id, phone, external_id, zones, metadata, state, attempts,
                      next_due_at, closed_reason, line_no, created_at, region, consent, consent_on,
                      priority)
SELECT %(campaign)s, s.phone, s.external_id, s.zones, s.metadata,
       CASE WHEN w.why IS NULL THEN %(pending)s ELSE %(suppressed)s END, 0,
       CASE WHEN w.why IS NULL THEN %(now)s END,
       w.why,
       s.line_no, %(marker)s, s.region, s.consent, s.consent_on, s.priority
FROM contacts_upload_stage s
LEFT JOIN dnc_numbers d
       ON d.phone = s.phone AND (d.expires_at IS NULL OR d.expires_at > %(now)s)
CROSS JOIN LATERAL (
    SELECT CASE WHEN d.phone IS NOT NULL THEN %(dnc_reason)s
                WHEN %(require_consent)s AND s.consent IS NOT TRUE THEN %(consent_reason)s
           END AS why
) w
ORDER BY s.line_no
ON CONFLICT DO NOTHING
RETURNING line_no, state, closed_reason
"""

# For rows the INSERT skipped: the contact they collide with (by number first).
_TWINS = """
SELECT s.line_no, twin.line_no, twin.created_at = %(marker)s
FROM contacts_upload_stage s
JOIN LATERAL (
    SELECT c.line_no, c.created_at FROM contacts c
    WHERE c.campaign_id = %(campaign)s
      AND (c.phone = s.phone OR (s.external_id IS NOT NULL AND c.external_id = s.external_id))
    ORDER BY c.phone = s.phone DESC
    LIMIT 1
) twin ON true
WHERE s.line_no = ANY(%(lines)s)
"""


class _Store:
    """Moves validated batches into `contacts` and tallies the outcome in the report."""

    def __init__(
        self,
        session: Session,
        campaign_id: int,
        now: datetime,
        report: UploadReport,
        require_consent: bool,
    ):
        raw = session.connection().connection.driver_connection
        assert isinstance(raw, Connection)  # noqa: S101 - psycopg 3 is the only driver we use
        self.conn: Connection[Any] = raw
        self.report = report
        self.params = {
            "campaign": campaign_id,
            "now": now,
            "pending": ContactState.PENDING.value,
            "suppressed": contact_transition(
                ContactState.PENDING, ContactEvent.SUPPRESS
            ).state.value,
            "dnc_reason": Closed.DO_NOT_CALL.value,
            "require_consent": require_consent,
            "consent_reason": Closed.NO_CONSENT.value,
            "marker": _prepare_stage(self.conn),
        }

    def add(self, checked: CheckedBatch) -> None:
        report = self.report
        report.rows += len(checked.good) + len(checked.bad)
        report.reject(checked.bad)
        if not checked.good:
            return
        with self.conn.cursor() as cur:
            with cur.copy("COPY contacts_upload_stage FROM STDIN") as copy:
                copy.write("".join(row.copy for row in checked.good))
            cur.execute(_INSERT, self.params)
            stored = {line: (state, why) for line, state, why in cur.fetchall()}
            missing = [row.line for row in checked.good if row.line not in stored]
            twins: dict[int, tuple[int, bool]] = {}
            if missing:
                cur.execute(_TWINS, {**self.params, "lines": missing})
                twins = {line: (twin, same) for line, twin, same in cur.fetchall()}
            cur.execute("TRUNCATE contacts_upload_stage")
        for row in checked.good:
            state, why = stored.get(row.line, (None, None))
            if state is None:
                twin, same_upload = twins.get(row.line, (None, False))
                reason = f"duplicate of line {twin}" if same_upload else "already in the campaign"
                report.duplicates += 1
                problem = RowProblem(row.line, row.value, reason)
                list_some(report.duplicate_rows, [problem], report.keep)
            elif state == ContactState.PENDING.value:
                report.accepted += 1
            else:
                report.suppress(RowProblem(row.line, row.value, why or "suppressed"))


def upload_region(default_region: str | None, spec: CampaignSpec) -> str | None:
    """The region numbers without `+` are read in: the caller's, else the spec's (checked)."""
    region = (default_region or spec.default_region or "").upper() or None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f'region "{region}" is not a two-letter country code such as US or GB')
    return region


def import_contacts(
    session: Session,
    campaign_id: int,
    stream: IO[bytes],
    *,
    now: datetime,
    default_region: str | None = None,
    name: str = "upload",
    workers: int = 0,
    keep: int | None = REPORT_ROWS,
) -> UploadReport:
    """Import a contacts CSV into a campaign; never commits (the caller owns the transaction).

    `default_region` (else the spec's `default_region`) reads numbers written without `+` when a
    row has no `country`. New contacts are `pending`, due at `now`. `name` labels the file in
    error messages. `workers` > 0 validates big files in that many processes. The report lists
    up to `keep` rejected and duplicate rows (None: every one).
    """
    campaign = get_campaign_row(session, campaign_id)
    if campaign.state == CampaignState.CANCELLED.value:
        raise Conflict(f"campaign {campaign_id} is cancelled; it takes no more contacts")
    spec = load_spec(campaign.spec)
    region = upload_region(default_region, spec)
    rows = iter(CsvRows(stream, name))
    header = read_header(rows, name)
    report = UploadReport(keep=keep)
    require_consent = account.current(session).compliance.require_consent
    store = _Store(session, campaign_id, now, report, require_consent)
    check = partial(
        check_rows, header=header, region=region, fallback_zone=spec.window.fallback_timezone
    )
    _store_behind(store, _checked(_batches(rows), check, workers))
    # Cancelled meanwhile? The share lock waits for a cancel in flight and keeps the next one
    # waiting until this commits, so cancel always sees (and closes) these contacts.
    session.refresh(campaign, with_for_update={"read": True})
    if campaign.state == CampaignState.CANCELLED.value:
        raise Conflict(f"campaign {campaign_id} was cancelled during the upload; nothing stored")
    counts = ("rows", "accepted", "duplicates", "suppressed", "rejected_total")
    detail = {"file": name, **{key: report.to_dict()[key] for key in counts}}
    audit.record(session, "contacts.upload", campaign_id=campaign_id, detail=detail)
    return report


def _store_behind(store: _Store, batches: Iterator[CheckedBatch]) -> None:
    """Write batches in a second thread while this one reads and validates the next ones.

    PostgreSQL does its share of the work in its own process, and psycopg releases the GIL while
    it waits, so the two overlap. At most two batches wait to be written; a failure in either
    thread stops the upload (and the caller's transaction rolls back).
    """
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-store")
    queued: deque[Future[None]] = deque()
    try:
        for checked in batches:
            queued.append(writer.submit(store.add, checked))
            if len(queued) > 2:
                queued.popleft().result()
        while queued:
            queued.popleft().result()
    finally:
        writer.shutdown(wait=True, cancel_futures=True)
