"""Bounds on operator input, checked before anything costly is done with it.

Python turns a decimal string into a number in time quadratic in its length (`Decimal`, `int`),
so a duration written as `1` and 250,000 zeros held a CPU for seconds, and through the API it
stalled `/notify` in the same process. Every number in a spec is therefore bounded by its digits
before it is converted or compared, and every value echoed back in an error is shortened.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping

MAX_INT_DIGITS = 18
"""Whole numbers up to 10**18 - 1: a bigint, and exact as a float's magnitude allows."""
MAX_SHOWN_CHARS = 64
"""An offending value is quoted in an error up to this many characters, then cut with `…`."""


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: object) -> str:
    """A value as an error quotes it: JSON where it can be, shortened either way."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_INT_DIGITS:
        return f"a number of {len(str(abs(value)))} digits"  # str() of a huge int is itself slow
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return shorten(text)


def number_problems(document: object, root: str = "") -> Iterator[str]:
    """`path: problem` for each number in `document` that is too long or not finite.

    Walks with an explicit stack: a document as deep as the parser allowed does not overflow it.
    """
    stack: list[tuple[str, object]] = [(root, document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and abs(value) >= 10**MAX_INT_DIGITS:
            yield f"{path}: {shown(value)}; numbers have at most {MAX_INT_DIGITS} digits"
        elif isinstance(value, float) and not math.isfinite(value):
            yield f"{path}: {value!r} is not a finite number"
        elif isinstance(value, Mapping):
            prefix = f"{path}." if path else ""
            stack.extend((f"{prefix}{key}", item) for key, item in reversed(list(value.items())))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))
