"""What every Monte-Carlo run of a forecast shares: the plan's rules in the form a run reads them.

The retry policy decides (`RetryPolicy.decide`, `earliest_allowed`) exactly as it does for the
engine; decisions that depend on neither time nor chance are memoised, since thousands of contacts
share each history. A history is (dials, counted dials, endings per redialed class, and the
seconds from now of the dials a frequency cap can still read).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from campaign.domain.calling_window import CallingWindow
from campaign.domain.forecast_calendar import Days, OpenHours
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import PastAttempt, Redial, RetryPolicy

History = tuple[int, int, tuple[int, ...], tuple[float, ...]]
_LONG_AGO = timedelta(days=30)
_NO_CAP = 1 << 30


@dataclass
class Setup:
    """The rules, zone sets (with their open hours and local days) and memoised decisions."""

    window: CallingWindow
    policy: RetryPolicy
    cps: float
    max_live_calls: int
    margin: timedelta
    now: datetime
    dt: float
    zone_sets: list[tuple[ZoneInfo, ...]]
    days: Days
    hours: list[OpenHours] = field(default_factory=list)
    local_days: list[Days] = field(default_factory=list)
    redialed: tuple[OutcomeClass, ...] = ()
    position: dict[OutcomeClass, int] = field(default_factory=dict)
    counts: dict[OutcomeClass, bool] = field(default_factory=dict)
    keep_dials: int = 0
    _delays: dict[tuple[History, OutcomeClass], float | None] = field(default_factory=dict)
    _kept: dict[tuple[int, tuple[float, ...], object], tuple[float, ...]] = field(
        default_factory=dict
    )
    _min_gap_s: float = 0.0

    def __post_init__(self) -> None:
        self.hours = [OpenHours(self.window, z, self.margin, self.now) for z in self.zone_sets]
        self.local_days = [Days(z[0], self.now) for z in self.zone_sets]
        self.redialed = tuple(sorted(self.policy.outcomes))
        self.position = {outcome: i for i, outcome in enumerate(self.redialed)}
        self.counts = {outcome: self.policy.counts(outcome) for outcome in self.redialed}
        policy = self.policy
        self.keep_dials = max(policy.per_day or 0, policy.per_week or 0, bool(policy.min_gap))
        self._min_gap_s = policy.min_gap.total_seconds() if policy.min_gap else 0.0

    def _history(self, dials: int, counted: int, endings: tuple[int, ...]) -> list[PastAttempt]:
        """The policy's view of a history with every dial long ago: one past attempt per ending,
        the rest without a class, `counted` of them counted."""
        past = self.now - _LONG_AGO
        out: list[PastAttempt] = []
        for outcome, times in zip(self.redialed, endings, strict=True):
            out += [PastAttempt(past, outcome, self.policy.counts(outcome))] * times
        counted_left = counted - sum(1 for a in out if a.counted)
        out += [PastAttempt(past, None, i < counted_left) for i in range(dials - len(out))]
        return out

    def redial_in(self, after: History, outcome: OutcomeClass, rng: random.Random) -> float | None:
        """Seconds from the end of a call in `outcome` to its redial, frequency caps aside; None
        to close the contact. `after` already holds that call. Memoised unless jittered."""
        key = ((*after[:3], ()), outcome)
        if key in self._delays:
            return self._delays[key]
        result = self.policy.decide(
            outcome, self._history(*after[:3]), self.now, self.zone_sets[0][0], rng
        )
        delay = (result.at - self.now).total_seconds() if isinstance(result, Redial) else None
        if not self.policy.outcomes[outcome].backoff.jitter:
            self._delays[key] = delay
        return delay

    def allowed(self, zk: int, dials: tuple[float, ...], due_s: float) -> float:
        """The earliest time >= `due_s` the frequency caps let contacts of `zk` with `dials`
        (seconds from now) be called again. The policy is asked only when a cap could bind:
        fewer dials than a count cap allows, and none within `min_gap`, never bind."""
        policy = self.policy
        if not dials or not (
            (policy.min_gap is not None and due_s < max(dials) + self._min_gap_s)
            or len(dials) >= min(policy.per_day or _NO_CAP, policy.per_week or _NO_CAP)
        ):
            return due_s
        past = [PastAttempt(self.now + timedelta(seconds=s), None, True) for s in dials]
        due = self.now + timedelta(seconds=due_s)
        allowed = self.policy.earliest_allowed(past, due, self.zone_sets[zk][0])
        return due_s if allowed <= due else (allowed - self.now).total_seconds()

    def kept(self, zk: int, dials: tuple[float, ...], due_s: float) -> tuple[float, ...]:
        """The dials a frequency cap can still read once a contact is due at `due_s`: those of
        its local day (`per_day`) and of the 7 days before (`per_week`), each moved to the middle
        of its local day. The next call becomes the latest dial, so `min_gap` needs none.
        Forgetting the rest, and the hour, lets the histories of many contacts merge."""
        policy, days = self.policy, self.local_days[zk]
        today = days.of(due_s) if policy.per_day else None
        key = (zk, dials, today if policy.per_week is None else due_s)
        found = self._kept.get(key)
        if found is None:
            week_ago = due_s - 7 * 86_400.0
            found = self._kept[key] = tuple(
                days.midday(at)
                for at in dials
                if (policy.per_week and at > week_ago)
                or (today is not None and days.of(at) == today)
            )
        return found
