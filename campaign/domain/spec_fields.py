"""Reading the fields of a spec block: every problem kept with its path, none raised early.

Shared by the top-level spec and its gateway block, so a problem reads the same wherever it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from campaign.errors import SpecInvalid

T = TypeVar("T")


class Problems:
    """Collects "path: message" problems across the blocks of one spec, so the operator sees
    every problem of a file at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        """One problem at `path`."""
        self.items.append(f"{path}: {message}")

    def block(self, parse: Callable[[], T]) -> T | None:
        """The block `parse` returns, or None with its problems kept."""
        try:
            return parse()
        except SpecInvalid as exc:
            self.items.extend(exc.errors)
            return None

    def unknown_keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
        """A problem per key not in `allowed`: a typo must never fall back to a default."""
        for key in data:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.add(where, f"unknown key (expected one of {', '.join(allowed)})")


def mapping(data: object, path: str, errors: Problems) -> Mapping[str, Any]:
    """`data` as a mapping; absent is empty, anything else a problem (and empty)."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        errors.add(path, f"must be a mapping, not {type(data).__name__}")
        return {}
    return data


def text(data: Mapping[str, Any], key: str, path: str, errors: Problems) -> str | None:
    """`data[key]` as a stripped non-empty string (a number reads as its digits), or None."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        errors.add(f"{path}.{key}", "must be a non-empty string")
        return None
    return str(value).strip()


def positive_int(
    value: object, where: str, errors: Problems, *, zero: bool = False, most: int | None = None
) -> int | None:
    """`value` as an int of at least 1 (0 with `zero`) and at most `most`, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        errors.add(where, f"must be a {'non-negative' if zero else 'positive'} integer")
        return None
    if most is not None and value > most:
        errors.add(where, f"must be at most {most}")
        return None
    return value
