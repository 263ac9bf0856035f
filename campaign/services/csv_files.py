"""Operator CSV files: reading contacts and do-not-call lists as numbered rows, and writing the
files operators open in a spreadsheet (the attempts export, the rejected rows).

Reading: UTF-8 with or without BOM, any line endings, quoted fields, blank rows skipped. A file
that cannot be read as a whole (UTF-16/32, bytes that are not UTF-8, a CSV error, a line longer
than `MAX_LINE_BYTES` or a row longer than `MAX_ROW_CHARS`, no header, no `phone` column, a column
named twice) raises `UploadRefused` naming the file and line; single bad rows are the caller's to
report, and a report lists at most `REPORT_ROWS` of them (the rest are counted), each value cut to
`MAX_VALUE_CHARS`.

Writing: a text cell that starts with `=`, `+`, `-`, `@`, tab or CR would run as a formula in a
spreadsheet (a contact's name or a gateway's reason is anyone's text), so it is written with a
leading `'`. One exception keeps phone numbers readable and exports scriptable: a `+` followed by
nothing but digits, spaces, dots, dashes and parentheses (`+12706165788`, `+1 (270) 616-5788`)
is written as is, since such a cell can only ever be a number, never call a function.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from campaign.domain.bounds import shorten
from campaign.errors import UploadRefused

MAX_LINE_BYTES = 64 * 1024
"""A contacts row is a few hundred bytes; a longer line is not a CSV we can use (or has no
newline at all, and would otherwise be read whole into memory)."""
MAX_ROW_CHARS = 64 * 1024
"""The same bound for a row whose quoted fields span several lines."""
REPORT_ROWS = 1000
"""Rows listed in a report (rejected, duplicates); the rest are counted."""
MAX_VALUE_CHARS = 100
"""A reported value is cut to this many characters."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE_AS_WRITTEN = re.compile(r"\+[0-9][0-9 ().-]*", re.ASCII)

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


@dataclass(frozen=True)
class RowProblem:
    """A row not stored as a new pending contact: 1-based file line (header = 1), value, reason."""

    line: int
    value: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", shorten(self.value, MAX_VALUE_CHARS))

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "value": self.value, "reason": self.reason}


def _refuse_foreign_encoding(stream: IO[bytes], name: str) -> None:
    """Name UTF-16/32 files plainly instead of failing on their first byte (when we can peek)."""
    if isinstance(stream, io.BufferedReader):
        head = stream.peek(4)[:4]
    elif stream.seekable():
        start = stream.tell()
        head = stream.read(4)
        stream.seek(start)
    else:
        return
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            raise UploadRefused(f"{name}: the file is {encoding}; save it as UTF-8 CSV")


def _lines(stream: IO[bytes], name: str) -> Iterator[str]:
    """Decoded physical lines (a UTF-8 BOM dropped); bytes that are not UTF-8 refuse the file,
    naming the line."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number = 0
    try:
        while raw := stream.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise UploadRefused(
                    f"{name}: line {number} is longer than {MAX_LINE_BYTES} bytes; "
                    "is this a CSV file with one row per line?"
                )
            yield decoder.decode(raw)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise UploadRefused(
            f"{name}: line {max(number, 1)} is not UTF-8 text "
            f"(byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8 CSV"
        ) from exc


class CsvRows:
    """CSV rows with the line each starts on (header = line 1); blank rows skipped; bytes that
    are not UTF-8 and CSV errors refuse the file (UploadRefused naming `name` and the line)."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.name = name
        _refuse_foreign_encoding(stream, name)
        self._reader = csv.reader(_lines(stream, name))
        self._last = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise UploadRefused(f"{self.name}: line {self._last + 1}: {exc}") from exc
            start, self._last = self._last + 1, self._reader.line_num
            if sum(map(len, cells)) > MAX_ROW_CHARS:
                raise UploadRefused(
                    f"{self.name}: the row starting on line {start} is longer than "
                    f"{MAX_ROW_CHARS} characters"
                )
            if any(cell.strip() for cell in cells):
                yield start, cells


def read_header(rows: Iterator[tuple[int, list[str]]], name: str) -> list[tuple[int, str]]:
    """(column index, name) of named columns; refuses files with no header, no phone or twins."""
    first = next(rows, None)
    if first is None:
        raise UploadRefused(f"{name}: the file is empty; expected a header row with a phone column")
    line, cells = first
    seen: dict[str, int] = {}
    header: list[tuple[int, str]] = []
    for index, raw in enumerate(cells):
        column = raw.strip()
        if not column:
            continue
        if column.lower() in seen:
            raise UploadRefused(f'{name}: header (line {line}): column "{column}" appears twice')
        seen[column.lower()] = index
        header.append((index, column))
    if "phone" not in seen:
        found = ", ".join(f'"{c}"' for _, c in header) or "nothing"
        raise UploadRefused(f"{name}: header (line {line}) has no phone column (found {found})")
    return header


def list_some(
    listed: list[RowProblem], problems: Iterable[RowProblem], keep: int | None = REPORT_ROWS
) -> None:
    """Append `problems` to a report's list until it holds `keep` (None: all); the caller
    counts every one."""
    for problem in problems:
        if keep is not None and len(listed) >= keep:
            return
        listed.append(problem)


def neutralised(value: object) -> object:
    """`value`, with a leading `'` if a spreadsheet would read it as a formula (module doc)."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and not _PHONE_AS_WRITTEN.fullmatch(value)
    ):
        return "'" + value
    return value


class SafeCsvWriter:
    """`csv.writer` whose text cells can never become spreadsheet formulas."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Sequence[object]) -> None:
        """Write one row, each cell through :func:`neutralised`."""
        self._writer.writerow([neutralised(cell) for cell in row])

    def writerows(self, rows: Iterable[Sequence[object]]) -> None:
        """Write every row of `rows`."""
        for row in rows:
            self.writerow(row)
