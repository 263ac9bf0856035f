"""Reading one block of a spec: it must be a mapping, and every key must be one it knows.

Unknown keys are errors, never ignored, so a typo (`max_attempt`) cannot silently fall back to a
default. Problems are appended to the caller's list as `<path>: <message>`, so a whole spec is
checked in one pass and the operator fixes every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def read_block(
    data: object, path: str, keys: Sequence[str], errors: list[str], *, expect: str | None = None
) -> Mapping[str, Any] | None:
    """`data` as a mapping with only `keys`, or None (the problem recorded) when it is not one.

    `expect` words what a mapping here should hold (by default its keys; "" for nothing more).
    """
    if not isinstance(data, Mapping):
        wording = f"with keys {', '.join(keys)}" if expect is None else expect
        errors.append(f"{path}: must be a mapping {wording}".rstrip())
        return None
    errors.extend(
        f"{path}.{key}: unknown key (expected one of {', '.join(keys)})"
        for key in data
        if key not in keys
    )
    return data
