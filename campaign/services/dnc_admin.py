"""Managing the do-not-call list: add, import, remove, list; each entry may carry an expiry.

Numbers are stored in E.164 (the form contacts are stored in), so a number written `(201)
555-0123` blocks the contact `+12015550123`. The list is applied at upload, before each run and
at dial time (`services.dnc.blocked_numbers`); an entry past its `expires_at` no longer blocks.
Adding a number that is already listed replaces its expiry and note. Every change is recorded in
the audit trail (`services.audit`). Callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from campaign.db.tables import DncRow
from campaign.domain.contacts import normalise_phone
from campaign.domain.operator_times import read_time
from campaign.errors import InvalidInput
from campaign.services import audit
from campaign.services.csv_files import CsvRows, RowProblem, list_some, read_header

AUDIT_NUMBERS = 100
"""Numbers an audit entry lists; a bigger change is counted, not listed."""


@dataclass(frozen=True)
class DncEntry:
    """One listed number."""

    phone: str
    added_at: datetime
    expires_at: datetime | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "phone": self.phone,
            "added_at": self.added_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "note": self.note,
        }


@dataclass
class DncImportReport:
    """Numbers listed (new or updated) and rows refused with their reason."""

    added: int = 0
    rejected_total: int = 0
    rejected: list[RowProblem] = field(default_factory=list)

    def reject(self, problem: RowProblem) -> None:
        """Count a refused row, listing it while there is room (REPORT_ROWS)."""
        self.rejected_total += 1
        list_some(self.rejected, [problem])

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "rejected": [p.to_dict() for p in self.rejected],
            "rejected_total": self.rejected_total,
            "rejected_omitted": self.rejected_total - len(self.rejected),
        }


def parse_expiry(value: str, now: datetime) -> datetime:
    """An expiry as operators write it: a duration from now (`90d`), a date (the entry holds
    through that whole day, UTC), or an ISO 8601 instant with its offset."""
    at = read_time(value, now=now, day_end=True)
    if at is None:
        raise InvalidInput(
            f'expires "{value}": expected a duration (90d), a date (2026-12-31) '
            "or an ISO time with offset (2026-12-31T18:00:00-05:00)"
        )
    return at.astimezone(UTC)


def _normalised(numbers: Iterable[str], region: str | None) -> list[str]:
    phones: list[str] = []
    bad: list[str] = []
    for raw in numbers:
        phone = normalise_phone(raw, region)
        if phone is None:
            bad.append(raw)
        else:
            phones.append(phone)
    if bad:
        listed = ", ".join(f'"{b}"' for b in bad)
        raise InvalidInput(f"not a valid phone number: {listed} (write it as +<country><number>)")
    return list(dict.fromkeys(phones))


def _upsert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = insert(DncRow).values(list(rows))
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[DncRow.phone],
            set_={"expires_at": stmt.excluded.expires_at, "note": stmt.excluded.note},
        )
    )


def add_numbers(
    session: Session,
    numbers: Sequence[str],
    *,
    now: datetime,
    expires_at: datetime | None = None,
    note: str | None = None,
    default_region: str | None = None,
) -> list[str]:
    """List numbers (all or none: one invalid number refuses the call); returns them in E.164."""
    if not numbers:
        raise InvalidInput("no numbers given")
    if note is not None and "\x00" in note:
        raise InvalidInput("note: contains a NUL character")
    phones = _normalised(numbers, default_region)
    _upsert(
        session,
        [{"phone": p, "added_at": now, "expires_at": expires_at, "note": note} for p in phones],
    )
    audit.record(
        session,
        "dnc.add",
        after={
            "numbers": phones[:AUDIT_NUMBERS],
            "expires_at": expires_at.isoformat() if expires_at else None,
            "note": note,
        },
        detail={"count": len(phones)},
    )
    return phones


def import_numbers(
    session: Session,
    stream: IO[bytes],
    *,
    now: datetime,
    default_region: str | None = None,
    name: str = "import",
) -> DncImportReport:
    """Import a CSV with a `phone` column and optional `expires_at` and `note` columns.

    Rows with an unreadable number or expiry are reported, the rest listed. The file is refused
    whole (UploadRefused) for the same reasons as a contacts upload.
    """
    rows = iter(CsvRows(stream, name))
    columns = {column.lower(): index for index, column in read_header(rows, name)}
    report = DncImportReport()
    batch: list[dict[str, Any]] = []

    def cell(cells: list[str], column: str) -> str:
        index = columns.get(column)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    for line, cells in rows:
        if any("\x00" in c for c in cells):
            report.reject(RowProblem(line, "", "contains a NUL character"))
            continue
        raw = cell(cells, "phone")
        phone = normalise_phone(raw, default_region) if raw else None
        if phone is None:
            report.reject(RowProblem(line, raw, "not a valid phone number"))
            continue
        expiry = cell(cells, "expires_at")
        try:
            expires_at = parse_expiry(expiry, now) if expiry else None
        except InvalidInput as exc:
            report.reject(RowProblem(line, expiry, str(exc)))
            continue
        batch.append(
            {
                "phone": phone,
                "added_at": now,
                "expires_at": expires_at,
                "note": cell(cells, "note") or None,
            }
        )
        if len(batch) >= 1000:
            _upsert(session, list({r["phone"]: r for r in batch}.values()))
            report.added += len(batch)
            batch = []
    _upsert(session, list({r["phone"]: r for r in batch}.values()))
    report.added += len(batch)
    detail = {"file": name, "added": report.added, "rejected": report.rejected_total}
    audit.record(session, "dnc.import", detail=detail)
    return report


def remove_numbers(
    session: Session, numbers: Sequence[str], *, default_region: str | None = None
) -> int:
    """Unlist numbers; returns how many were listed. Contacts already suppressed stay so."""
    phones = _normalised(numbers, default_region)
    removed = session.scalars(
        delete(DncRow).where(DncRow.phone.in_(phones)).returning(DncRow.phone)
    ).all()
    audit.record(
        session,
        "dnc.remove",
        before={"numbers": list(removed)[:AUDIT_NUMBERS]},
        detail={"asked": phones[:AUDIT_NUMBERS], "removed": len(removed)},
    )
    return len(removed)


def list_numbers(
    session: Session, *, now: datetime, limit: int, offset: int, include_expired: bool = False
) -> tuple[list[DncEntry], int]:
    """A page of listed numbers (by phone) and the total; expired entries only when asked."""
    where = [] if include_expired else [or_(DncRow.expires_at.is_(None), DncRow.expires_at > now)]
    total = session.scalar(select(func.count()).select_from(DncRow).where(*where)) or 0
    rows = session.scalars(
        select(DncRow).where(*where).order_by(DncRow.phone).limit(limit).offset(offset)
    )
    entries = [DncEntry(r.phone, r.added_at, r.expires_at, r.note) for r in rows]
    return entries, total
