"""The retry policy (the spec's `retry:` block) and the pure redial decision made from it.

Semantics an operator relies on:
- A class not listed under `outcomes` is final: the contact is `done`. Two exceptions,
  `unavailable` and `gateway_error`, are back-pressure from the gateway side, not the contact's
  doing (docs/gateway.md §3), so unless listed they get `DEFAULT_RULES`: backoff 1m × 2 up to 30m,
  ±20 % jitter, at most 10 such endings, not counted against `max_attempts`. Listing one of them
  as `null` makes it final. `lost` is final unless listed.
- `max` on a class counts attempts that *ended* in that class: `max: 2` redials after the first
  `rejected` and closes after the second. With a `delays` list and no `max`, the list is the
  schedule: `max` defaults to `len(delays) + 1`. A longer `max` repeats the last delay. A class
  that is not counted defaults to `max: 10`, since nothing else would ever stop it.
- `counted` defaults to true except for `unavailable` and `gateway_error`. A `gateway_error` is a
  dial-out the gateway refused or never took: no call, so it can never be counted (`counted: true`
  on it is refused) and no frequency cap sees it (`PastAttempt.placed`).
- `per_day` counts dials in the contact's local calendar day (days of 23 or 25 hours included),
  `per_week` dials in the rolling 168 hours before the candidate time, `min_gap` the time since the
  latest dial. A dial exactly `min_gap` or exactly 7 days later is allowed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from campaign.domain.blocks import read_block
from campaign.domain.durations import format_duration
from campaign.domain.frequency import FrequencyCaps
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_rules import (
    DEFAULT_RULES,
    DEFAULT_UNCOUNTED_MAX,
    UNCOUNTED_BY_DEFAULT,
    OutcomeRule,
    count,
    read_outcomes,
)
from campaign.errors import SpecInvalid

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_UNCOUNTED_MAX",
    "UNCOUNTED_BY_DEFAULT",
    "Close",
    "OutcomeRule",
    "PastAttempt",
    "Redial",
    "RetryPolicy",
]

DEFAULT_MAX_ATTEMPTS = 5

_TOP_KEYS = ("max_attempts", "per_day", "per_week", "min_gap", "outcomes")


@dataclass(frozen=True)
class PastAttempt:
    """One earlier dial to the contact; `outcome` is None while it has no final class yet.

    `placed` is False for a dial-out the gateway refused or never took (it ended as
    `gateway_error` with no call): it is not a call, so no frequency cap sees it, and it is never
    `counted`; only its class's own `max` does, so a number the gateway always refuses still ends.
    """

    at: datetime
    outcome: OutcomeClass | None
    counted: bool
    placed: bool = True


@dataclass(frozen=True)
class Redial:
    """Dial the contact again no earlier than `at` (UTC); the calling window may move it later."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class Close:
    """Stop dialing: `exhausted` when a cap stopped a wanted retry, else the outcome was final."""

    reason: str
    exhausted: bool


@dataclass(frozen=True)
class RetryPolicy:
    """A campaign's validated retry policy; build it with `from_dict` (it fills the defaults)."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    per_day: int | None = None
    per_week: int | None = None
    min_gap: timedelta | None = None
    outcomes: Mapping[OutcomeClass, OutcomeRule] = field(
        default_factory=lambda: DEFAULT_RULES, hash=False
    )

    def __post_init__(self) -> None:
        # A cap of 0 would make earliest_allowed search forever.
        caps = (self.max_attempts, self.per_day, self.per_week)
        if any(cap is not None and cap < 1 for cap in caps):
            raise ValueError("max_attempts, per_day and per_week must be at least 1")
        if self.min_gap is not None and self.min_gap < timedelta(0):
            raise ValueError("min_gap must not be negative")

    @classmethod
    def from_dict(cls, data: object, path: str = "retry") -> RetryPolicy:
        """Validate a `retry:` block (None means all defaults) and report every problem at once.

        Raises `SpecInvalid` whose errors read `<path>.<key>: <message>`. Unknown keys are errors,
        so a typo (`max_attempt`) cannot silently fall back to a default.
        """
        if data is None:
            data = {}
        errors: list[str] = []
        data = read_block(data, path, _TOP_KEYS, errors, expect="")
        if data is None:
            raise SpecInvalid(errors)
        max_attempts = count(
            data.get("max_attempts"), f"{path}.max_attempts", errors, DEFAULT_MAX_ATTEMPTS
        )
        caps = FrequencyCaps.read(data, path, errors)
        rules = read_outcomes(data.get("outcomes"), f"{path}.outcomes", errors)
        if errors:
            raise SpecInvalid(errors)
        return cls(max_attempts, caps.per_day, caps.per_week, caps.min_gap, MappingProxyType(rules))

    def to_dict(self) -> dict[str, Any]:
        """The policy with every default filled in; `from_dict(to_dict())` gives an equal policy."""
        outcomes: dict[str, Any] = {}
        for outcome in OutcomeClass:
            if outcome in self.outcomes:
                outcomes[outcome.value] = self.outcomes[outcome].to_dict()
            elif outcome in DEFAULT_RULES:
                outcomes[outcome.value] = None  # the operator made a default rule final
        return {
            "max_attempts": self.max_attempts,
            **self.caps.to_dict(),
            "outcomes": outcomes,
        }

    @property
    def frequency_capped(self) -> bool:
        """Whether any cap reads the contact's past calls (callers skip loading them if not)."""
        return self.caps.capped

    def reads_history(self, outcome: OutcomeClass) -> bool:
        """Whether `decide` reads the history after an ending in `outcome` (callers skip loading
        it if not): a class with no rule is final whatever came before."""
        return outcome in self.outcomes

    def counts(self, outcome: OutcomeClass) -> bool:
        """Whether an attempt ending in `outcome` counts against `max_attempts`."""
        rule = self.outcomes.get(outcome)
        return True if rule is None else rule.counted

    def decide(
        self,
        outcome: OutcomeClass,
        history: Sequence[PastAttempt],
        now: datetime,
        zone: ZoneInfo,
        rng: random.Random,
    ) -> Redial | Close:
        """What to do after an attempt ended in `outcome`; `history` includes that attempt.

        The checks run in order: no rule → Close(done); the class's `max` endings reached, or
        `max_attempts` counted attempts reached → Close(exhausted); else the class's delay (indexed
        by its earlier endings) from `now`, pushed forward by `earliest_allowed`. `Redial.at` is
        never before `now`.
        """
        rule = self.outcomes.get(outcome)
        if rule is None:
            return Close(f"{outcome}: final, no redial rule for this outcome", exhausted=False)
        ended = sum(1 for attempt in history if attempt.outcome == outcome)
        if ended == 0:
            raise ValueError(f"history must include the attempt that just ended in {outcome}")
        if rule.max is not None and ended >= rule.max:
            return Close(
                f"{outcome}: {ended} attempts ended {outcome}, max {rule.max}", exhausted=True
            )
        counted = sum(1 for attempt in history if attempt.counted)
        if counted >= self.max_attempts:
            return Close(
                f"{outcome}: {counted} counted attempts, max_attempts {self.max_attempts}",
                exhausted=True,
            )
        delay = rule.backoff.delay(ended - 1, rng)
        at, held_by = self._earliest(_calls(history), now + delay, zone)
        of = "" if rule.max is None else f" of {rule.max - 1}"
        reason = f"{outcome}: retry {ended}{of} in {format_duration(delay)}"
        if held_by is not None:
            reason += f", held by {held_by} until {at.astimezone(zone).isoformat()}"
        return Redial(at, reason)

    def earliest_allowed(
        self, history: Sequence[PastAttempt], at: datetime, zone: ZoneInfo
    ) -> datetime:
        """The earliest instant ≥ `at` (in UTC) at which `min_gap`, `per_day` and `per_week` hold.

        Every past call counts, whatever its outcome; refused dial-outs (not `placed`) are not
        calls. The dispatcher calls this as a gate before each dial, so it is linear in the
        history and allocates little.
        """
        return self._earliest(_calls(history), at, zone)[0]

    @property
    def caps(self) -> FrequencyCaps:
        """`min_gap`, `per_day` and `per_week` as the one definition shared with the account."""
        return FrequencyCaps(self.per_day, self.per_week, self.min_gap)

    def _earliest(
        self, dials: list[datetime], at: datetime, zone: ZoneInfo
    ) -> tuple[datetime, str | None]:
        return self.caps.earliest(dials, at, zone)


def _calls(history: Sequence[PastAttempt]) -> list[datetime]:
    return sorted(a.at for a in history if a.placed)
