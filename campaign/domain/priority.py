"""A contact's priority: among contacts due now, a higher one is called first.

Bounded on purpose: the dispatcher's claim walks the distinct priority levels of a campaign's
pending contacts (one index probe per level, `services.dispatching.due_contacts`), so a claim
costs at most PRIORITY_LEVELS probes more than before, whatever the size of the list.
"""

from __future__ import annotations

PRIORITY_MIN = -100
PRIORITY_MAX = 100
PRIORITY_LEVELS = PRIORITY_MAX - PRIORITY_MIN + 1
DEFAULT_PRIORITY = 0


def parse_priority(raw: str) -> int | str:
    """The priority written in `raw` (`"5"`, `"-3"`, `"+2"`), or why it is not one (a message
    naming the value and the allowed range)."""
    text = raw.strip()
    try:
        value = int(text, 10)
    except ValueError:
        return f'priority "{raw}" is not a whole number ({PRIORITY_MIN} to {PRIORITY_MAX})'
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        return f'priority "{raw}" is out of range ({PRIORITY_MIN} to {PRIORITY_MAX})'
    return value
