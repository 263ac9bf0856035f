"""One number's calls as the engine could see them, replayed through the campaign's retry policy.

Pure: the simulator's records in, `Replay` out. A call's engine-visible outcome follows what was
delivered (see `chaos.judge` for the rules); `RetryPolicy.decide`, the engine's own decision, then
says how many calls the number should have had.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice, product
from typing import Any
from zoneinfo import ZoneInfo

from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import Close, PastAttempt, RetryPolicy

# The simulator's truth, in the engine's terms (campaign/simulator/outcomes.py `Outcome`; with
# AMD on, which the chaos campaign uses, every answered outcome is reported as itself).
SIM_OUTCOMES: Mapping[str, OutcomeClass] = {
    "human": OutcomeClass.HUMAN,
    "machine": OutcomeClass.MACHINE,
    "no_speech": OutcomeClass.NO_SPEECH,
    "undecided": OutcomeClass.UNDECIDED,
    "busy": OutcomeClass.BUSY,
    "rejected": OutcomeClass.REJECTED,
    "no_answer": OutcomeClass.NO_ANSWER,
    "unavailable": OutcomeClass.UNAVAILABLE,
    "failed_other": OutcomeClass.FAILED_OTHER,
}
_FINAL_STATUSES = frozenset({"completed", "failed"})
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Call:
    """What the judge reads of one `GET /_sim/calls` row."""

    number: str  # E.164
    placed_at: float
    ended_at: float | None
    outcome: str
    notifyurl: str
    reset: bool  # the connection was reset after the call was placed: the engine got no sid
    delivered: tuple[str, ...] = ()  # statuses of notifications the receiver answered 2xx
    uncertain: tuple[str, ...] = ()  # statuses it got but answered 5xx or too late: maybe stored

    @classmethod
    def from_record(cls, row: Mapping[str, Any]) -> Call:
        notes = row["notifications"]
        return cls(
            number="+" + str(row["number"]),
            placed_at=float(row["placed_at"]),
            ended_at=None if row["ended_at"] is None else float(row["ended_at"]),
            outcome=str(row["outcome"]),
            notifyurl=str(row["notifyurl"]),
            reset="connection_reset" in row["faults"],
            delivered=tuple(str(n["status"]) for n in notes if n["delivered"]),
            uncertain=tuple(str(n["status"]) for n in notes if _maybe_stored(n)),
        )

    def _seen(self, heard: Sequence[str]) -> OutcomeClass:
        if any(_is_final(status) for status in heard):
            return SIM_OUTCOMES[self.outcome]
        if heard or not self.reset:
            return OutcomeClass.LOST
        return OutcomeClass.GATEWAY_ERROR

    @property
    def visible(self) -> OutcomeClass:
        """The outcome the engine could know from what was delivered (the module docstring)."""
        return self._seen(self.delivered)

    @property
    def possible(self) -> tuple[OutcomeClass, ...]:
        """`visible` first, then what the engine knew if notifications it answered with an error
        were stored all the same (a 500 after the commit, a reply that came too late)."""
        options = [self.visible]
        interim = [s for s in self.uncertain if not _is_final(s)]
        for heard in ([*self.delivered, *interim], [*self.delivered, *self.uncertain]):
            if (seen := self._seen(heard)) not in options:
                options.append(seen)
        return tuple(options)

    @property
    def residual(self) -> bool:
        """Placed, yet rightly taken by the engine for a dial-out that never arrived."""
        return self.possible == (OutcomeClass.GATEWAY_ERROR,)


def _is_final(status: str) -> bool:
    return status.strip().lower() in _FINAL_STATUSES


def _maybe_stored(note: Mapping[str, Any]) -> bool:
    """Sent and not answered 2xx, yet possibly stored: a 5xx (the receiver may fail after its
    commit) or no answer after the request went out (a timeout, a dropped connection); a refused
    connection or a 4xx stored nothing."""
    if note["delivered"] or note.get("sent_at") is None:
        return False
    code = note.get("status_code")
    if code is not None:
        return int(code) >= 500
    return not str(note.get("error") or "").startswith(("ConnectError", "ConnectTimeout"))


@dataclass(frozen=True)
class Replay:
    """One number: the calls made and what the policy implies from their visible outcomes.

    `implied` is exact when the policy closed the contact (`wants_more` False); when its last
    decision was a redial, at least `made + 1` calls were due and `implied` says that minimum.
    `uncertain`: the calls only match once a notification answered with an error is taken as
    stored (see `Call.possible`).
    """

    number: str
    made: int
    implied: int
    wants_more: bool
    outcomes: tuple[str, ...]
    uncertain: bool = False

    @property
    def differs(self) -> bool:
        return self.made != self.implied


_MAX_READINGS = 64  # readings of one number's calls tried before keeping the literal one


def replay(number: str, calls: Sequence[Call], policy: RetryPolicy) -> Replay:
    """Walk `calls` (one number's, oldest first) through `policy.decide`: with what was
    delivered, else with any reading of the uncertain notifications that makes them agree."""
    literal = _replay(number, [c.visible for c in calls], policy, calls)
    if not literal.differs:
        return literal
    for reading in islice(product(*(c.possible for c in calls)), 1, _MAX_READINGS):
        other = _replay(number, reading, policy, calls)
        if not other.differs:
            return replace(other, uncertain=True)
    return literal


def _replay(
    number: str, outcomes: Sequence[OutcomeClass], policy: RetryPolicy, calls: Sequence[Call]
) -> Replay:
    history: list[PastAttempt] = []
    names = tuple(o.value for o in outcomes)
    rng = random.Random(0)  # jitter moves times only, never whether a redial happens
    for i, outcome in enumerate(outcomes):
        placed = outcome is not OutcomeClass.GATEWAY_ERROR
        at = datetime.fromtimestamp(calls[i].placed_at, UTC)
        history.append(PastAttempt(at, outcome, placed and policy.counts(outcome), placed))
        if isinstance(policy.decide(outcome, history, at, _UTC, rng), Close):
            return Replay(number, len(outcomes), i + 1, False, names)
    return Replay(number, len(outcomes), len(outcomes) + 1, True, names)
