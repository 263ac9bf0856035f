"""What the forecast believes about calls: the outcome mix per attempt number and how long a call
holds a live-call slot, learnt from what was observed and shrunk toward stated assumptions.

The mix is a Dirichlet posterior: the assumed mix counts as `PRIOR_CALLS` calls, the campaign's
own (recency-weighted) outcomes are added to it, and each attempt number gets its own posterior
centred on that pooled one (`NUMBER_PRIOR_CALLS`), because a contact redialed after `busy` is not
a fresh contact. Each Monte-Carlo run draws one mix and one set of call durations from these
beliefs, so a forecast made on few calls is honestly wider than one made on thousands.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from campaign.domain.outcomes import OutcomeClass

PRIOR_CALLS = 2.0
NUMBER_PRIOR_CALLS = 20.0
OBSERVED_ENOUGH = 30
"""Calls with an outcome a forecast needs before its basis is `observed` rather than `assumed`."""
DURATION_PRIOR_CALLS = 1.0
DURATION_SPREAD = 0.5
"""Coefficient of variation of one call's duration: the uncertainty of a mean of n calls."""
ASSUMED_LAG_S = 0.1
"""From due to dialed when nothing holds a call back: half of the dispatcher's default tick."""
LAG_SPREAD = 0.5

ASSUMED_MIX: Mapping[OutcomeClass, float] = {
    OutcomeClass.HUMAN: 0.35,
    OutcomeClass.MACHINE: 0.20,
    OutcomeClass.NO_ANSWER: 0.20,
    OutcomeClass.BUSY: 0.10,
    OutcomeClass.REJECTED: 0.05,
    OutcomeClass.UNAVAILABLE: 0.05,
    OutcomeClass.FAILED_OTHER: 0.05,
}
_FAILING_FAST = (OutcomeClass.BUSY, OutcomeClass.UNAVAILABLE, OutcomeClass.FAILED_OTHER)


def binomial(n: int, p: float, rng: random.Random) -> int:
    """A Binomial(n, p) draw in O(n·p) steps at most (the stdlib has none before Python 3.12):
    gaps between successes while few are expected, a rounded normal past a dozen."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(n, 1.0 - p, rng)
    mean = n * p
    if mean >= 12.0:
        drawn = round(rng.gauss(mean, math.sqrt(mean * (1.0 - p))))
        return min(n, max(0, drawn))
    log_q = math.log1p(-p)
    successes = position = 0
    while True:
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position > n:
            return successes
        successes += 1


@dataclass(frozen=True)
class Observations:
    """The campaign's calls so far: recency-weighted outcome counts per attempt number, the
    weighted mean seconds a call of each class held its slot (with its total weight), and the
    engine's lag from a contact coming due to its call going out (None: not seen)."""

    mix: Mapping[int, Mapping[OutcomeClass, float]] = field(default_factory=dict)
    occupancy_s: Mapping[OutcomeClass, tuple[float, float]] = field(default_factory=dict)
    calls: int = 0
    lag_s: float | None = None


@dataclass(frozen=True)
class Assumptions:
    """What the forecast takes for granted before it has seen enough calls."""

    mix: Mapping[OutcomeClass, float]
    occupancy_s: Mapping[OutcomeClass, float]

    @classmethod
    def for_calls(cls, ring_timeout: timedelta, max_call_duration: timedelta) -> Assumptions:
        """`ASSUMED_MIX`, and durations bounded by the spec: an unanswered call rings for the
        whole ring timeout, a failing one ends in about 2 s, an answered one rings a quarter of
        the timeout (10 s at most) and then talks for 60 s (a machine 30 s), never longer than
        half the allowed call duration."""
        ring = ring_timeout.total_seconds()
        talk = max_call_duration.total_seconds() / 2
        answer = min(10.0, ring / 4)
        occupancy = {outcome: answer + min(30.0, talk) for outcome in OutcomeClass}
        occupancy |= {outcome: min(2.0, ring) for outcome in _FAILING_FAST}
        occupancy |= {
            OutcomeClass.HUMAN: answer + min(60.0, talk),
            OutcomeClass.NO_ANSWER: ring,
            OutcomeClass.REJECTED: ring / 3,
            OutcomeClass.GATEWAY_ERROR: 1.0,
            OutcomeClass.LOST: ring + max_call_duration.total_seconds(),
        }
        return cls(ASSUMED_MIX, occupancy)

    def describe(self) -> list[str]:
        """The assumptions in words, for the forecast's `assumptions` list."""
        mix = ", ".join(f"{c.value} {p:.0%}" for c, p in self.mix.items())
        held = ", ".join(
            f"{c.value} {self.occupancy_s[c]:.0f}s"
            for c in (OutcomeClass.HUMAN, OutcomeClass.MACHINE, OutcomeClass.NO_ANSWER)
        )
        return [f"outcome mix {mix}", f"call durations {held}, failures about 2s"]


@dataclass(frozen=True)
class Draw:
    """One Monte-Carlo run's world: outcome probabilities for attempts 1, 2, … (the last entry
    serves every later attempt) and the mean seconds a call of each class holds its slot."""

    mix: tuple[Mapping[OutcomeClass, float], ...]
    occupancy_s: Mapping[OutcomeClass, float]
    lag_s: float = ASSUMED_LAG_S

    def for_attempt(self, number: int) -> Mapping[OutcomeClass, float]:
        return self.mix[min(number, len(self.mix)) - 1]

    @property
    def hold_s(self) -> float:
        """How long a first call keeps its live-call slot, on average: the call, then the
        engine's lag until the next call takes the slot."""
        return self.lag_s + sum(p * self.occupancy_s[c] for c, p in self.for_attempt(1).items())


_SMALL = 12  # below this many calls, draw each call's class; above, binomials
_LARGE = 200  # from this many, the expected split rounded at random: its noise is negligible


@dataclass(frozen=True)
class Split:
    """Attempt n's outcome as a run needs it: the classes it tells apart (`None`: every other
    class, final alike), likeliest first, with their probabilities and seconds held."""

    classes: list[OutcomeClass | None]
    probs: list[float]
    cumulative: list[float]
    held_s: list[float]

    @classmethod
    def of(cls, draw: Draw, number: int, own: set[OutcomeClass]) -> Split:
        """Attempt `number` in `draw`, the classes in `own` apart and the rest together."""
        weights: dict[OutcomeClass | None, float] = {}
        held: dict[OutcomeClass | None, float] = {}
        for outcome, p in draw.for_attempt(number).items():
            key = outcome if outcome in own else None
            weights[key] = weights.get(key, 0.0) + p
            held[key] = held.get(key, 0.0) + p * draw.occupancy_s[outcome]
        keys = sorted((k for k in weights if weights[k] > 0), key=lambda k: -weights[k])
        probs = [weights[k] for k in keys]
        cumulative = [sum(probs[: i + 1]) for i in range(len(probs))]
        return cls(keys, probs, cumulative, [held[k] / weights[k] for k in keys])

    def draw(self, n: int, rng: random.Random) -> list[int]:
        """How `n` calls split among the classes: one draw per call while few, past `_LARGE`
        the expected split rounded at random, binomials in between."""
        probs, top = self.probs, self.cumulative[-1]
        last = len(probs) - 1
        counts = [0] * len(probs)
        if n < _SMALL:
            for _ in range(n):
                counts[min(last, bisect_right(self.cumulative, rng.random() * top))] += 1
            return counts
        if n >= _LARGE:
            counts = [int(x) + (rng.random() < x - int(x)) for x in (n * p / top for p in probs)]
            counts[0] += n - sum(counts)  # the likeliest class absorbs the rounding
            if counts[0] >= 0:
                return counts
        left, rest = n, top
        for i, p in enumerate(probs):
            counts[i] = left if i == last or p >= rest else binomial(left, p / rest, rng)
            left -= counts[i]
            rest -= p
            if not left:
                break
        return counts


def _dirichlet(
    alpha: Mapping[OutcomeClass, float], rng: random.Random
) -> dict[OutcomeClass, float]:
    gammas = {c: rng.gammavariate(a, 1.0) for c, a in alpha.items() if a > 0}
    total = sum(gammas.values())
    if total <= 0:  # every gamma underflowed: fall back to the mean
        total_alpha = sum(alpha.values())
        return {c: a / total_alpha for c, a in alpha.items() if a > 0}
    return {c: g / total for c, g in gammas.items()}


def _normalised(weights: Mapping[OutcomeClass, float]) -> dict[OutcomeClass, float]:
    total = sum(weights.values())
    return {c: w / total for c, w in weights.items() if w > 0}


class Beliefs:
    """The posterior over outcome mixes and call durations, from assumptions and observations."""

    def __init__(self, assumptions: Assumptions, observations: Observations) -> None:
        self.assumptions = assumptions
        self.observations = observations
        pooled: dict[OutcomeClass, float] = {c: PRIOR_CALLS * p for c, p in assumptions.mix.items()}
        for counts in observations.mix.values():
            for outcome, weight in counts.items():
                pooled[outcome] = pooled.get(outcome, 0.0) + weight
        self._pooled = pooled
        self._numbers = max(observations.mix, default=0) + 1
        seen = observations.occupancy_s
        assumed = sum(assumptions.occupancy_s[c] * w for c, (_, w) in seen.items())
        self._scale = sum(m * w for m, w in seen.values()) / assumed if assumed > 0 else 1.0

    @property
    def basis(self) -> str:
        """`observed` once the campaign's own calls outweigh what was assumed."""
        return "observed" if self.observations.calls >= OBSERVED_ENOUGH else "assumed"

    def _occupancy(self, outcome: OutcomeClass) -> tuple[float, float]:
        """Posterior mean seconds and the weight of evidence behind it. The assumed durations
        are first scaled by how far the classes seen are from theirs (calls twice as long as
        assumed in one class are likely so in the others)."""
        prior = self.assumptions.occupancy_s[outcome] * self._scale
        mean, weight = self.observations.occupancy_s.get(outcome, (prior, 0.0))
        total = weight + DURATION_PRIOR_CALLS
        return (weight * mean + DURATION_PRIOR_CALLS * prior) / total, total

    def _mix(self, pooled: Mapping[OutcomeClass, float], number: int) -> dict[OutcomeClass, float]:
        alpha = {c: NUMBER_PRIOR_CALLS * p for c, p in pooled.items()}
        for outcome, weight in self.observations.mix.get(number, {}).items():
            alpha[outcome] = alpha.get(outcome, 0.0) + weight
        return alpha

    @property
    def lag_s(self) -> float:
        """The engine's lag from due to dialed: as seen, else assumed."""
        lag = self.observations.lag_s
        return ASSUMED_LAG_S if lag is None else lag

    def draw(self, rng: random.Random) -> Draw:
        """One plausible world: a pooled mix, a mix per attempt number around it, durations,
        and the engine's lag (which varies with how busy its host is)."""
        pooled = _dirichlet(self._pooled, rng)
        mix = tuple(_dirichlet(self._mix(pooled, n), rng) for n in range(1, self._numbers + 1))
        occupancy = {}
        for outcome in OutcomeClass:
            mean, weight = self._occupancy(outcome)
            spread = DURATION_SPREAD / math.sqrt(weight)
            occupancy[outcome] = mean * math.exp(rng.gauss(0.0, spread))
        return Draw(mix, occupancy, self.lag_s * math.exp(rng.gauss(0.0, LAG_SPREAD)))

    def expected(self) -> Draw:
        """The posterior means (no randomness), for the outcome shares a forecast reports."""
        pooled = _normalised(self._pooled)
        mix = tuple(_normalised(self._mix(pooled, n)) for n in range(1, self._numbers + 1))
        occupancy = {outcome: self._occupancy(outcome)[0] for outcome in OutcomeClass}
        return Draw(mix, occupancy, self.lag_s)
