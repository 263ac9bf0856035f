"""What the simulator saw, reduced to pacing figures: one reading for our engine and the baseline.

Only the simulator's records count: they are where a call was really placed, after every queue,
sleep and network hop, so a limiter that is precise in Redis but sloppy on the wire shows up here.
To tell which crowded seconds the engine itself caused, each call is joined to its attempt's
`sending` mark in PostgreSQL (`sending_marks`, `late_free_windows`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.clock import utcnow
from campaign.db.tables import AttemptRow
from campaign.domain import tokens
from campaign.domain.pacing import JITTER_SLACK_MS

SLACK_S = JITTER_SLACK_MS / 1000
"""The limiter's slack between sending marks, in seconds: how late on the way a call may arrive
and still count as sent when its mark says."""


@dataclass(frozen=True)
class Witnessed:
    """One run as the gateway saw it, against the configured `cps` and `max_live_calls`."""

    cps: float
    max_live: int
    placed: int
    achieved_cps: float
    over_limit_windows: int
    max_in_1s: int
    peak_live: int
    duplicates: int
    late_free_windows: int | None = None  # windows the engine crowded itself (with `marks`)

    @property
    def ratio(self) -> float:
        """Achieved over configured rate (1.0: exact; above: the limit was broken)."""
        return self.achieved_cps / self.cps


def achieved_rate(starts: Sequence[float]) -> float:
    """Calls per second over the span of the run: (n - 1) intervals between first and last call."""
    if len(starts) < 2 or starts[-1] <= starts[0]:
        return 0.0
    return (len(starts) - 1) / (starts[-1] - starts[0])


def _calls_in_windows(starts: Sequence[float]) -> list[int]:
    """How many calls each 1-second window [t, t + 1) starting at a call holds (`starts` sorted):
    sliding, so a burst straddling a second boundary is not split in two."""
    return [bisect_left(starts, t + 1.0, lo=i) - i for i, t in enumerate(starts)]


def crowded_windows(starts: Sequence[float], cps: float) -> tuple[list[tuple[float, int]], int]:
    """(start, calls) of each window (`_calls_in_windows`) holding more than `cps` calls, and the
    most calls any window holds."""
    counts = _calls_in_windows(starts)
    over = [(starts[i], n) for i, n in enumerate(counts) if n > cps]
    return over, max(counts, default=0)


def windows_over(starts: Sequence[float], limit: float) -> tuple[int, int]:
    """(windows over `limit`, most calls in one window): `crowded_windows`, counted."""
    over, most = crowded_windows(starts, limit)
    return len(over), most


def late_free_windows(
    placed: Sequence[tuple[float, float | None]], cps: float, slack_s: float = SLACK_S
) -> list[float]:
    """Where the engine itself crowded a second: the start of each crowded window
    (`crowded_windows`) whose first ⌊cps⌋ + 1 calls all arrived within `slack_s` of their
    attempts' `sending` marks (`placed`: each call's placement and its delay after its mark, None
    if unknown, sorted by placement: `delays`).

    The limiter spaces sending marks (1 s + slack) / cps apart, so calls that each arrived within
    the slack of their marks can only crowd a second if the marks did: the engine's doing. A
    window holding a call delayed on the way past the slack (a 2-core host stalling a client
    thread or the simulator's event loop for tens of ms) may have been sent on time and bunched in
    transit; the witness cannot tell which, and counts it among the raw windows only.
    """
    size = math.floor(cps) + 1
    counts = _calls_in_windows([at for at, _ in placed])
    return [
        placed[i][0]
        for i, n in enumerate(counts)
        if n > cps and all(d is None or d <= slack_s for _, d in placed[i : i + size])
    ]


def delays(
    calls: Sequence[Mapping[str, Any]], marks: Mapping[str, float]
) -> list[tuple[float, float | None]]:
    """`late_free_windows`'s input: each call's placement and its delay after its attempt's
    `sending` mark (`marks`, by notifyurl; None for a call without one), sorted by placement."""
    placed = sorted((float(c["placed_at"]), str(c["notifyurl"])) for c in calls)
    return [(at, at - marks[url] if url in marks else None) for at, url in placed]


def sending_marks(
    session: Session, calls: Sequence[Mapping[str, Any]], secrets: Sequence[str]
) -> dict[str, float]:
    """Each placed call's attempt's `sending` mark (epoch), by the call's notifyurl, read on
    `session`; a call whose attempt has none is left out."""
    urls = {attempt_of(c, secrets): str(c["notifyurl"]) for c in calls}
    query = select(AttemptRow.id, AttemptRow.sending_at).where(
        AttemptRow.id.in_(urls), AttemptRow.sending_at.is_not(None)
    )
    return {urls[i]: at.timestamp() for i, at in session.execute(query)}


def attempt_of(call: Mapping[str, Any], secrets: Sequence[str]) -> int:
    """The attempt a placed call carried: its notify token (the notifyurl's last segment) names
    it, so the witness joins the simulator's records to the engine's rows without trusting sids
    (a call whose dial-out answer was lost has none)."""
    return tokens.verify(str(call["notifyurl"]).rsplit("/", 1)[-1], secrets, utcnow())


def duplicates(calls: Sequence[dict[str, Any]], key: str) -> int:
    """Calls beyond the first with the same `key`: `notifyurl` for our engine (its token names
    one attempt, so a repeat is the same attempt POSTed twice), `number` for the baseline (one
    task per contact, so a repeat is its task re-sent or redelivered)."""
    per_key = Counter(c[key] for c in calls)
    return sum(n - 1 for n in per_key.values())


def witness(
    calls: Sequence[dict[str, Any]],
    stats: dict[str, Any],
    cps: float,
    max_live: int,
    duplicate_key: str = "notifyurl",
    marks: Mapping[str, float] | None = None,
) -> Witnessed:
    """Reduce a run's `/_sim/calls` and `/_sim/stats` to its pacing figures; with the attempts'
    `sending` marks (`sending_marks`: our engine's runs), also the windows it crowded itself."""
    starts = sorted(float(c["placed_at"]) for c in calls)
    over, most = windows_over(starts, cps)
    engine = None if marks is None else len(late_free_windows(delays(calls, marks), cps))
    return Witnessed(
        cps=cps,
        max_live=max_live,
        placed=len(starts),
        achieved_cps=achieved_rate(starts),
        over_limit_windows=over,
        max_in_1s=most,
        peak_live=int(stats["peak_concurrent"]),
        duplicates=duplicates(calls, duplicate_key),
        late_free_windows=engine,
    )
