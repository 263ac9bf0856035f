"""One batch of contact rows validated into PostgreSQL COPY text, in a worker process or not.

Kept apart from `uploads` so a validation worker imports only the domain (phonenumbers), not
SQLAlchemy and psycopg: a spawned worker starts in about a tenth of the time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from campaign.domain.contacts import ContactRow, Rejection, validate_row
from campaign.services.csv_files import RowProblem

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class GoodRow(NamedTuple):
    """A valid row: its line, the phone as written, and its COPY text line."""

    line: int
    value: str
    copy: str


@dataclass(frozen=True)
class CheckedBatch:
    """One validated batch, rows in file order."""

    good: list[GoodRow]
    bad: list[RowProblem]


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _metadata_text(metadata: dict[str, str]) -> str:
    return _copy_text(_JSON(metadata)) if metadata else "{}"


def validated_rows(
    batch: Iterable[tuple[int, list[str]]],
    *,
    header: Sequence[tuple[int, str]],
    region: str | None,
    fallback_zone: str,
) -> Iterator[tuple[int, str, ContactRow | RowProblem]]:
    """Each row as the upload judges it: (line, phone as written, contact or problem). Shared by
    the upload and the forecast's what-if, so both accept and refuse exactly the same rows."""
    width = max(index for index, _ in header) + 1
    for line, cells in batch:
        if "\x00" in "".join(cells):
            yield line, "", RowProblem(line, "", "contains a NUL character (is the file UTF-16?)")
            continue
        if len(cells) >= width:
            row = {name: cells[i] for i, name in header}
        else:
            row = {name: cells[i] for i, name in header if i < len(cells)}
        result = validate_row(row, default_region=region, fallback_zone=fallback_zone)
        if isinstance(result, Rejection):
            yield line, "", RowProblem(line, result.value, result.reason)
        else:
            yield line, row.get("phone", "").strip(), result


def check_rows(
    batch: Sequence[tuple[int, list[str]]],
    *,
    header: Sequence[tuple[int, str]],
    region: str | None,
    fallback_zone: str,
) -> CheckedBatch:
    """Validate rows into ready-to-COPY text; module level so worker processes can run it."""
    good: list[GoodRow] = []
    bad: list[RowProblem] = []
    rows = validated_rows(batch, header=header, region=region, fallback_zone=fallback_zone)
    for line, value, result in rows:
        if isinstance(result, RowProblem):
            bad.append(result)
            continue
        ext = result.external_id
        consent = _NULL if result.consent is None else ("t" if result.consent else "f")
        consent_on = _NULL if result.consent_on is None else result.consent_on.isoformat()
        text = (
            f"{line}\t{result.phone}\t{_NULL if ext is None else _copy_text(ext)}"
            f"\t{{{','.join(result.zones)}}}\t{_metadata_text(result.metadata)}"
            f"\t{result.region or _NULL}\t{consent}\t{consent_on}\t{result.priority}\n"
        )
        good.append(GoodRow(line, value, text))
    return CheckedBatch(good, bad)
