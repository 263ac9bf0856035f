"""The retry policy (the spec's `retry:` block) and the pure redial decision made from it.

Semantics an operator relies on:
- A class not listed under `outcomes` is final: the contact is `done`. Two exceptions,
  `unavailable` and `gateway_error`, are back-pressure from the gateway side, not the contact's
  doing (savg-api.md §3), so unless listed they get `DEFAULT_RULES`: backoff 1m × 2 up to 30m,
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
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from campaign.domain.backoff import Backoff
from campaign.domain.durations import format_duration, read_duration
from campaign.domain.outcomes import OutcomeClass
from campaign.errors import SpecInvalid

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_UNCOUNTED_MAX = 10
UNCOUNTED_BY_DEFAULT = frozenset({OutcomeClass.UNAVAILABLE, OutcomeClass.GATEWAY_ERROR})
WEEK = timedelta(days=7)

_TOP_KEYS = ("max_attempts", "per_day", "per_week", "min_gap", "outcomes")
_RULE_KEYS = ("delays", "backoff", "max", "counted")
_CLASS_NAMES = tuple(outcome.value for outcome in OutcomeClass)
T = TypeVar("T")


@dataclass(frozen=True)
class OutcomeRule:
    """How one outcome class is redialed: the schedule, a cap on its endings, and whether it counts.

    `max=None` leaves only the policy's `max_attempts` to stop the class (counted rules only).
    """

    backoff: Backoff
    max: int | None = None
    counted: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The rule as the spec writes it, every default filled in."""
        out = self.backoff.to_spec()
        if self.max is not None:
            out["max"] = self.max
        out["counted"] = self.counted
        return out


DEFAULT_RULES: Mapping[OutcomeClass, OutcomeRule] = MappingProxyType(
    {
        outcome: OutcomeRule(
            backoff=Backoff.exponential(
                base=timedelta(minutes=1), cap=timedelta(minutes=30), jitter=0.2
            ),
            max=DEFAULT_UNCOUNTED_MAX,
            counted=False,
        )
        for outcome in sorted(UNCOUNTED_BY_DEFAULT)
    }
)


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
        if not isinstance(data, Mapping):
            raise SpecInvalid([f"{path}: must be a mapping"])
        errors: list[str] = []
        _check_keys(data, _TOP_KEYS, path, errors)
        max_attempts = _count(
            data.get("max_attempts"), f"{path}.max_attempts", errors, DEFAULT_MAX_ATTEMPTS
        )
        per_day = _count(data.get("per_day"), f"{path}.per_day", errors, None)
        per_week = _count(data.get("per_week"), f"{path}.per_week", errors, None)
        min_gap = None
        if data.get("min_gap") is not None:
            min_gap = read_duration(data["min_gap"], f"{path}.min_gap", errors)
        outcomes = _outcomes(data.get("outcomes"), f"{path}.outcomes", errors)
        if errors:
            raise SpecInvalid(errors)
        return cls(max_attempts, per_day, per_week, min_gap, MappingProxyType(outcomes))

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
            "per_day": self.per_day,
            "per_week": self.per_week,
            "min_gap": None if self.min_gap is None else format_duration(self.min_gap),
            "outcomes": outcomes,
        }

    @property
    def frequency_capped(self) -> bool:
        """Whether any cap reads the contact's past calls (callers skip loading them if not)."""
        return bool(self.per_day or self.per_week or self.min_gap)

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

    def _earliest(
        self, dials: list[datetime], at: datetime, zone: ZoneInfo
    ) -> tuple[datetime, str | None]:
        # Each step jumps to the first instant the broken cap could allow, never past an allowed
        # one, and strictly forward; past the last dial + 7 days + min_gap nothing is broken.
        t, held_by = at.astimezone(UTC), None
        while (step := self._broken(dials, t, zone)) is not None:
            held_by, t = step
        return t, held_by

    def _broken(
        self, dials: list[datetime], t: datetime, zone: ZoneInfo
    ) -> tuple[str, datetime] | None:
        if self.min_gap is not None and dials and t < dials[-1] + self.min_gap:
            return "min_gap", (dials[-1] + self.min_gap).astimezone(UTC)
        if self.per_day is not None:
            day = t.astimezone(zone).date()
            if sum(1 for d in dials if d.astimezone(zone).date() == day) >= self.per_day:
                # fold=0 on a midnight skipped by DST means the transition itself: the day's start.
                next_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                return "per_day", next_day.astimezone(UTC)
        if self.per_week is not None:
            recent = [d for d in dials if d > t - WEEK]
            if len(recent) >= self.per_week:
                return "per_week", (recent[-self.per_week] + WEEK).astimezone(UTC)
        return None


def _calls(history: Sequence[PastAttempt]) -> list[datetime]:
    return sorted(a.at for a in history if a.placed)


def _check_keys(
    data: Mapping[Any, Any], allowed: tuple[str, ...], path: str, errors: list[str]
) -> None:
    for key in data:
        if key not in allowed:
            errors.append(f"{path}.{key}: unknown key (expected one of {', '.join(allowed)})")


def _count(value: object, path: str, errors: list[str], default: T) -> int | T:
    """A positive integer, or `default` when absent/null (also returned after an error)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.append(f"{path}: must be a positive integer")
        return default
    return value


def _outcomes(data: object, path: str, errors: list[str]) -> dict[OutcomeClass, OutcomeRule]:
    rules = dict(DEFAULT_RULES)
    if data is None:
        return rules
    if not isinstance(data, Mapping):
        errors.append(f"{path}: must be a mapping of outcome class to rule")
        return rules
    for name, raw in data.items():
        where = f"{path}.{name}"
        if name not in _CLASS_NAMES:
            errors.append(
                f"{where}: unknown outcome class (expected one of {', '.join(_CLASS_NAMES)})"
            )
        elif raw is None:
            rules.pop(OutcomeClass(name), None)
        elif (rule := _rule(OutcomeClass(name), raw, where, errors)) is not None:
            rules[OutcomeClass(name)] = rule
    return rules


def _rule(outcome: OutcomeClass, data: object, path: str, errors: list[str]) -> OutcomeRule | None:
    if not isinstance(data, Mapping):
        errors.append(f"{path}: must be a mapping with delays or backoff (or null: no redial)")
        return None
    before = len(errors)
    _check_keys(data, _RULE_KEYS, path, errors)
    raw_counted = data.get("counted")
    if raw_counted is not None and not isinstance(raw_counted, bool):
        errors.append(f"{path}.counted: must be true or false")
    elif raw_counted is True and outcome is OutcomeClass.GATEWAY_ERROR:
        errors.append(f"{path}.counted: a refused dial-out is not a call and is never counted")
    counted = outcome not in UNCOUNTED_BY_DEFAULT if raw_counted is None else raw_counted is True
    backoff = Backoff.from_spec(data, path, errors)
    max_ = _count(data.get("max"), f"{path}.max", errors, None)
    if backoff is None or len(errors) > before:
        return None
    if max_ is None and backoff.delays:
        max_ = len(backoff.delays) + 1
    elif max_ is None and not counted:
        max_ = DEFAULT_UNCOUNTED_MAX
    return OutcomeRule(backoff, max_, counted)
