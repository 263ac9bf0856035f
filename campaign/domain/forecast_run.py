"""One Monte-Carlo run of the forecast: the engine's dispatch loop played on groups of contacts.

Time moves in steps of `dt` seconds. Contacts that share a zone set and a retry history move
together as one entry with a count. Each step keeps the dispatcher's order (the earliest due
first, contacts due in one step in proportion), places calls up to what pacing allows in the part
of the step their window is open (`cps`, and `max_live_calls` over the mean time a call holds its
slot), and splits the calls placed among outcome classes at random. The retry policy then closes
each share or gives it its next due time, which the calling window moves to its next opening,
as `services.redial.settle_contact` does for one contact. Steps with nothing to dial are skipped,
so the cost follows the number of steps and entries, not how many contacts an entry holds.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from campaign.domain.calling_window import CallingWindow
from campaign.domain.forecast_calendar import HORIZON_S, Days, OpenHours
from campaign.domain.forecast_mix import Draw, binomial
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import PastAttempt, Redial, RetryPolicy

# Why contacts wait when nothing can be dialed; `limited_by` names the one that cost most time.
WINDOWS, RETRY, CAPS = "windows", "retry delays", "frequency caps"
PACE, LIVE = "pace", "live calls"
NEVER_OPENS = "calling window never opens again"
CAMPAIGN_ENDS = "campaign ends first"
BEYOND = "not done within 400 days"
_LONG_AGO = timedelta(days=30)
_SMALL = 12  # below this many calls, draw each call's class; above, binomials

# An entry: (zone-set index, history). A history: (dials, counted dials, endings per redialed
# class in `Setup.redialed` order, seconds from now of the dials frequency caps can still read).
History = tuple[int, int, tuple[int, ...], tuple[float, ...]]
Entry = tuple[int, History]


@dataclass
class Setup:
    """What every run shares: the plan's rules, the zone sets and the memoised decisions."""

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

    def __post_init__(self) -> None:
        self.hours = [OpenHours(self.window, z, self.margin, self.now) for z in self.zone_sets]
        self.local_days = [Days(z[0], self.now) for z in self.zone_sets]
        self.redialed = tuple(sorted(self.policy.outcomes))
        self.position = {outcome: i for i, outcome in enumerate(self.redialed)}
        self.counts = {outcome: self.policy.counts(outcome) for outcome in self.redialed}
        policy = self.policy
        self.keep_dials = max(policy.per_day or 0, policy.per_week or 0, bool(policy.min_gap))

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

    def _delay(self, after: History, outcome: OutcomeClass, rng: random.Random) -> float | None:
        """Seconds until the redial the policy asks for (None: close), frequency caps aside.
        Memoised unless the class's delays are jittered."""
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

    def kept(self, zk: int, dials: tuple[float, ...], due_s: float) -> tuple[float, ...]:
        """The dials a frequency cap can still read once a contact is due at `due_s`: those of
        its local day (`per_day`) and of the 7 days before (`per_week`), each moved to the middle
        of its local day. The next call becomes the latest dial, so `min_gap` needs none.
        Forgetting the rest, and the hour, lets the histories of many contacts merge."""
        policy, days = self.policy, self.local_days[zk]
        today = days.of(due_s) if policy.per_day else None
        week_ago = due_s - 7 * 86_400.0
        return tuple(
            days.midday(at)
            for at in dials
            if (policy.per_week and at > week_ago) or (today is not None and days.of(at) == today)
        )

    def decide(
        self, zk: int, after: History, outcome: OutcomeClass, at_s: float, rng: random.Random
    ) -> tuple[float | None, bool]:
        """When (seconds from now) contacts of `zk` are due again after a call ended in
        `outcome` at `at_s`, None to close them; and whether a frequency cap set that time.
        `after` already holds the call."""
        delay = self._delay(after, outcome, rng)
        if delay is None or not self.keep_dials:
            return (None if delay is None else at_s + delay), False
        at = self.now + timedelta(seconds=at_s + delay)
        dials = [PastAttempt(self.now + timedelta(seconds=s), None, True) for s in after[3]]
        allowed = self.policy.earliest_allowed(dials, at, self.zone_sets[zk][0])
        return (allowed - self.now).total_seconds(), allowed > at


@dataclass
class RunResult:
    """What one run saw: when the last contact closed, the calls, the people reached, and why
    the campaign waited."""

    finish_s: float | None = None
    calls: int = 0
    reached: int = 0
    calls_by_number: dict[int, int] = field(default_factory=dict)
    calls_by_day: dict[date, int] = field(default_factory=dict)
    reached_by_day: dict[date, int] = field(default_factory=dict)
    never: dict[str, int] = field(default_factory=dict)
    waited: dict[str, float] = field(default_factory=dict)


@dataclass
class _Split:
    """Attempt n's classes as a run needs them: each redialed class and `human` on its own,
    every other final class as None; probabilities, cumulative ones, and seconds held."""

    classes: list[OutcomeClass | None]
    probs: list[float]
    cumulative: list[float]
    held_s: list[float]


class Run:
    """One run: `wait` or `ended` the starting groups, then `play()`."""

    def __init__(self, setup: Setup, draw: Draw, rng: random.Random) -> None:
        self.s = setup
        self.draw = draw
        self.rng = rng
        self.result = RunResult()
        self.waiting: dict[int, dict[Entry, int]] = {}
        self.why_waiting: dict[int, dict[str, int]] = {}
        self.due_steps: list[int] = []
        self.ready: deque[tuple[dict[Entry, int], list[int]]] = deque()
        self.ready_by_zone: dict[int, int] = {}
        self.spans: dict[int, tuple[float, float]] = {}
        self.splits: dict[int, _Split] = {}
        hold = sum(p * draw.occupancy_s[c] for c, p in draw.for_attempt(1).items())
        live_rate = setup.max_live_calls / hold if hold > 0 else math.inf
        self.rate = min(setup.cps, live_rate)
        self.bound = PACE if setup.cps <= live_rate else LIVE

    # -- bookkeeping --------------------------------------------------------------------------

    def _close(self, count: int, at_s: float, reached: bool = False) -> None:
        result = self.result
        if result.finish_s is None or at_s > result.finish_s:
            result.finish_s = at_s
        if reached:
            result.reached += count
            day = self.s.days.of(at_s)
            result.reached_by_day[day] = result.reached_by_day.get(day, 0) + count

    def wait(
        self, entry: Entry, count: int, due_s: float, why: str, decided_s: float | None = None
    ) -> None:
        """Hold `count` contacts until `due_s`, moved to the next opening of their window; if it
        never opens again they are closed when decided (`decided_s`, else `due_s`)."""
        hours = self.s.hours[entry[0]]
        opens = hours.next_open(max(due_s, 0.0))
        if opens is None:
            why = CAMPAIGN_ENDS if hours.ends_campaign else NEVER_OPENS
            self.result.never[why] = self.result.never.get(why, 0) + count
            self._close(count, max(due_s if decided_s is None else decided_s, 0.0))
            return
        if opens > due_s + 1e-6:
            why = WINDOWS
        zk, history = entry
        if history[3]:
            entry = (zk, (*history[:3], self.s.kept(zk, history[3], opens)))
        step = max(0, int(opens // self.s.dt))  # the step the opening falls in
        bucket = self.waiting.get(step)
        if bucket is None:
            bucket = self.waiting[step] = {}
            self.why_waiting[step] = {}
            heapq.heappush(self.due_steps, step)
        bucket[entry] = bucket.get(entry, 0) + count
        reasons = self.why_waiting[step]
        reasons[why] = reasons.get(why, 0) + count

    # -- what calls end in --------------------------------------------------------------------

    def _split(self, number: int) -> _Split:
        found = self.splits.get(number)
        if found is None:
            weights: dict[OutcomeClass | None, float] = {}
            held: dict[OutcomeClass | None, float] = {}
            for outcome, p in self.draw.for_attempt(number).items():
                own = outcome in self.s.policy.outcomes or outcome is OutcomeClass.HUMAN
                key = outcome if own else None
                weights[key] = weights.get(key, 0.0) + p
                held[key] = held.get(key, 0.0) + p * self.draw.occupancy_s[outcome]
            keys = sorted((k for k in weights if weights[k] > 0), key=lambda k: -weights[k])
            probs = [weights[k] for k in keys]
            cumulative = [sum(probs[: i + 1]) for i in range(len(probs))]
            found = _Split(keys, probs, cumulative, [held[k] / weights[k] for k in keys])
            self.splits[number] = found
        return found

    def _counts(self, n: int, split: _Split) -> list[int]:
        """How `n` calls split among the classes: one draw per call while few, else binomials."""
        counts = [0] * len(split.probs)
        last = len(counts) - 1
        if n < _SMALL:
            top = split.cumulative[-1]
            for _ in range(n):
                counts[min(last, bisect_right(split.cumulative, self.rng.random() * top))] += 1
            return counts
        left, rest = n, split.cumulative[-1]
        for i, p in enumerate(split.probs):
            if left == 0:
                break
            counts[i] = left if i == last else binomial(left, min(1.0, p / rest), self.rng)
            left -= counts[i]
            rest -= p
        return counts

    def ended(self, entry: Entry, count: int, placed_s: float, held_left: float = 1.0) -> None:
        """`count` calls of `entry` (already in its history) were placed at `placed_s` and hold
        their slot for `held_left` of a call's duration from then."""
        zk, history = entry
        split = self._split(history[0])
        for i, share in enumerate(self._counts(count, split)):
            if share:
                at_s = placed_s + held_left * split.held_s[i]
                self._settle(zk, history, split.classes[i], share, at_s)

    def _settle(
        self, zk: int, history: History, outcome: OutcomeClass | None, count: int, at_s: float
    ) -> None:
        reached = outcome is OutcomeClass.HUMAN
        if outcome is None or outcome not in self.s.policy.outcomes:
            self._close(count, at_s, reached)
            return
        dials, counted, endings, steps = history
        i = self.s.position[outcome]
        after: History = (
            dials,
            counted + self.s.counts[outcome],
            (*endings[:i], endings[i] + 1, *endings[i + 1 :]),
            steps,
        )
        due_s, held = self.s.decide(zk, after, outcome, at_s, self.rng)
        if due_s is None:
            self._close(count, at_s, reached)
        else:
            self.wait((zk, after), count, due_s, CAPS if held else RETRY, at_s)

    # -- the dispatch loop --------------------------------------------------------------------

    def _admit(self, step: int) -> None:
        """Entries due in `step` join the ready queue if their window opens within the step."""
        bucket = self.waiting.pop(step)
        self.why_waiting.pop(step)
        t = step * self.s.dt
        ready: dict[Entry, int] = {}
        for entry, count in bucket.items():
            zk = entry[0]
            span = self.s.hours[zk].span(t)
            if span is None or span[0] >= t + self.s.dt:
                self.wait(entry, count, t, WINDOWS)
                continue
            ready[entry] = count
            self.ready_by_zone[zk] = self.ready_by_zone.get(zk, 0) + count
            self.spans[zk] = max(self.spans.get(zk, span), span)
        if ready:
            self.ready.append((ready, [sum(ready.values())]))

    def _evict_closed(self, t: float) -> None:
        """Contacts still queued when their window has closed wait for it to open again."""
        closed = {zk for zk, n in self.ready_by_zone.items() if n and self.spans[zk][1] < t}
        if not closed:
            return
        for bucket, total in self.ready:
            for entry in [e for e in bucket if e[0] in closed]:
                count = bucket.pop(entry)
                total[0] -= count
                self.ready_by_zone[entry[0]] -= count
                self.wait(entry, count, t, WINDOWS)
        self.ready = deque(item for item in self.ready if item[1][0] > 0)

    def _open_part(self, t: float) -> dict[int, tuple[float, float]]:
        """For each zone set with contacts ready: (share of the step its window is open, when
        the calls it places go out on average)."""
        dt = self.s.dt
        out = {}
        for zk, n in self.ready_by_zone.items():
            if n:
                opens, until = self.spans[zk]
                start, end = max(t, opens), min(t + dt, until)
                out[zk] = (max(0.0, end - start) / dt, (start + max(start, end)) / 2)
        return out

    def _dial(
        self, capacity: float, open_part: dict[int, tuple[float, float]], widest: float
    ) -> None:
        """Place up to `capacity` calls, earliest due first, each zone set within its part."""
        left = {zk: capacity * share / widest for zk, (share, _) in open_part.items()}
        whole = all(share == widest for share, _ in open_part.values())
        room = int(capacity)
        for bucket, total in list(self.ready):
            if room <= 0:
                break
            eligible = bucket if whole else _eligible(bucket, left)
            size = sum(eligible.values()) if not whole else total[0]
            taken = list(eligible.items()) if size <= room else _proportional(eligible, size, room)
            for entry, count in taken:
                zk = entry[0]
                bucket[entry] -= count
                if not bucket[entry]:
                    del bucket[entry]
                total[0] -= count
                room -= count
                left[zk] -= count
                self.ready_by_zone[zk] -= count
                self._place(entry, count, open_part[zk][1])
        while self.ready and self.ready[0][1][0] == 0:
            self.ready.popleft()

    def _place(self, entry: Entry, count: int, placed_s: float) -> None:
        zk, (dials, counted, endings, steps) = entry
        number = dials + 1
        if self.s.keep_dials:
            steps = (*steps, placed_s)[-self.s.keep_dials :]
        result = self.result
        result.calls += count
        result.calls_by_number[number] = result.calls_by_number.get(number, 0) + count
        day = self.s.days.of(placed_s)
        result.calls_by_day[day] = result.calls_by_day.get(day, 0) + count
        self.ended((zk, (number, counted, endings, steps)), count, placed_s)

    def play(self) -> RunResult:
        """Run the dispatch loop until no contact is left (or the horizon is reached)."""
        dt, carry = self.s.dt, 0.0
        step = self.due_steps[0] if self.due_steps else 0
        waited = self.result.waited
        while self.ready or self.due_steps:
            if step * dt > HORIZON_S:
                self._abandon()
                break
            while self.due_steps and self.due_steps[0] <= step:
                self._admit(heapq.heappop(self.due_steps))
            self._evict_closed(step * dt)
            open_part = self._open_part(step * dt)
            widest = max((share for share, _ in open_part.values()), default=0.0)
            if widest > 0:
                allowed = self.rate * dt * widest + carry
                self._dial(allowed, open_part, widest)
                carry = allowed - int(allowed)
            if self.ready:
                waited[self.bound] = waited.get(self.bound, 0.0) + dt
                step += 1
                continue
            carry = 0.0
            if not self.due_steps:
                break
            following = max(step + 1, self.due_steps[0])
            reasons = self.why_waiting[self.due_steps[0]]
            why = max(reasons, key=reasons.__getitem__)
            waited[why] = waited.get(why, 0.0) + (following - step) * dt
            step = following
        return self.result

    def _abandon(self) -> None:
        left = sum(sum(b.values()) for b in self.waiting.values())
        left += sum(total[0] for _, total in self.ready)
        if left:
            self.result.never[BEYOND] = self.result.never.get(BEYOND, 0) + left
        self.waiting.clear()
        self.due_steps.clear()
        self.ready.clear()


def _eligible(bucket: dict[Entry, int], left: dict[int, float]) -> dict[Entry, int]:
    """The part of `bucket` each zone set may still dial this step (`left` calls each)."""
    per_zone: dict[int, int] = {}
    for (zk, _), count in bucket.items():
        per_zone[zk] = per_zone.get(zk, 0) + count
    out: dict[Entry, int] = {}
    for zk, count in per_zone.items():
        allowed = min(count, int(max(0.0, left[zk])))
        entries = {e: n for e, n in bucket.items() if e[0] == zk}
        out.update(entries if allowed == count else dict(_proportional(entries, count, allowed)))
    return out


def _proportional(bucket: dict[Entry, int], total: int, take: int) -> list[tuple[Entry, int]]:
    """`take` of the `total` contacts in `bucket`, in proportion to each entry (largest
    remainders first)."""
    if take <= 0:
        return []
    entries = list(bucket)
    exact = [bucket[entry] * take / total for entry in entries]
    taken = [int(share) for share in exact]
    short = take - sum(taken)
    for i in sorted(range(len(exact)), key=lambda i: taken[i] - exact[i])[:short]:
        taken[i] += 1
    return [(entry, n) for entry, n in zip(entries, taken, strict=True) if n]
