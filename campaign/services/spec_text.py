"""A spec written as text (YAML, or JSON, which is YAML too) read into a document, one way for all.

The CLI reads spec files with it and the API's `policy/parse` reads pasted text with it, so a spec
means the same thing wherever it is handed in (PyYAML's safe loader: `10:00` unquoted is a number
there, and the check that follows says so in both places). A syntax error names its line and
column.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time

import yaml

from campaign.errors import InvalidInput, SpecInvalid


def read_spec_text(text: str, source: str) -> object:
    """The document in `text`; InvalidInput reads `<source>: line L, column C: <problem>`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(_printable(f"{source}: {where}{problem}")) from exc
    except RecursionError as exc:
        raise InvalidInput(f"{source}: nested too deeply to read") from exc


_MAX_NODES = 100_000
"""Aliases let a few KiB of YAML name millions of nodes; no real spec comes near this."""
_MAX_DEPTH = 64


def as_json_document(document: object) -> object:
    """`document` as JSON can carry it: dates and times as ISO 8601 text, keys as text, sets as
    lists. Values JSON cannot hold (binary, NaN and infinities, cycles, alias bombs) are a
    SpecInvalid naming their paths, so a pasted spec never fails on its way to the check."""
    problems: list[str] = []
    budget = [_MAX_NODES]

    def convert(value: object, path: str, seen: frozenset[int]) -> object:
        budget[0] -= 1
        if budget[0] < 0:
            raise SpecInvalid([f"{path or 'spec'}: too many values (aliases repeat too much)"])
        if isinstance(value, str):
            return text(value, path)
        if isinstance(value, bool | int | None):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            problems.append(f"{path}: {value} is not a finite number")
            return None
        if isinstance(value, date | datetime | time):
            return value.isoformat()
        if id(value) in seen:
            problems.append(f"{path}: refers to itself")
            return None
        if len(seen) >= _MAX_DEPTH:
            raise SpecInvalid([f"{path}: nested too deeply"])
        inner = seen | {id(value)}
        if isinstance(value, dict):
            return {
                text(str(key), path): convert(item, f"{path}.{key}" if path else str(key), inner)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set):
            return [convert(item, f"{path}[{i}]", inner) for i, item in enumerate(value)]
        problems.append(f"{path or 'spec'}: a {type(value).__name__} value cannot be used here")
        return None

    def text(value: str, path: str) -> str:
        """JSON-escaped surrogate pairs (`\\ud83d\\ude00`) arrive as two halves: join them."""
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            pass
        try:
            return value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            problems.append(f"{path or 'spec'}: text with a lone surrogate is not valid Unicode")
            return ""

    try:
        converted = convert(document, "", frozenset())
    except SpecInvalid as exc:
        problems = exc.errors
    if problems:
        raise SpecInvalid([_printable(problem) for problem in problems])
    return converted


def _printable(message: str) -> str:
    """A message that can be sent as UTF-8 whatever the paths it names hold."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")
