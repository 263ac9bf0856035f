"""How a state machine is declared and applied; the four machines themselves live in `states`.

A machine is a read-only table of `(state, event) -> state`. Keeping the lookup generic means a
new machine is a table, never new branching code, and every machine refuses an unlisted pair the
same way (`IllegalTransition`), so the no-op/illegal rules of `states` hold for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, TypeVar

from campaign.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Transition(Generic[S]):
    """The state after an event; `changed` is false for a no-op, and then nothing must be written
    and no side effect (a POST, a redial) may follow."""

    state: S
    changed: bool


Table = Mapping[tuple[S, E], S]


def apply(table: Table[S, E], state: S, event: E) -> Transition[S]:
    """Look the pair up in a declared table; a pair the table does not list is a bug or a wrong
    request, never a race, so it raises instead of being ignored."""
    try:
        target = table[(state, event)]
    except KeyError:
        machine = type(state).__name__.removesuffix("State").lower()
        raise IllegalTransition(
            f"a {machine} in state {state.value!r} cannot take event {event.value!r}"
        ) from None
    return Transition(target, changed=target != state)


def stay(state: S, *events: E) -> dict[E, S]:
    """A row of explicit no-ops: listing them is what tells a harmless repeat from a bug."""
    return dict.fromkeys(events, state)


def declare(rows: Mapping[S, Mapping[E, S]]) -> Table[S, E]:
    """Flatten `{state: {event: target}}` into a read-only table, so no caller can patch a rule."""
    return MappingProxyType(
        {(state, event): target for state, row in rows.items() for event, target in row.items()}
    )
