"""Reading operator CSV files (contacts, do-not-call lists) as a stream of numbered rows.

Shared rules: UTF-8 with or without BOM, any line endings, quoted fields, blank rows skipped.
A file that cannot be read as a whole (UTF-16/32, bytes that are not UTF-8, a CSV error, no
header, no `phone` column, a column named twice) raises `UploadRefused` naming the file and line;
single bad rows are the caller's to report.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from campaign.errors import UploadRefused

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
        for number, raw in enumerate(stream, 1):  # noqa: B007 - read after the loop on error
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
