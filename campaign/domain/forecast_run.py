"""One Monte-Carlo run of the forecast: the engine's dispatch loop played on groups of contacts.

Time moves in steps of `dt` seconds. Contacts that share a retry history move together, as a
count per zone set. Each step keeps the dispatcher's order (the earliest due first, contacts due
in one step in proportion), places calls up to what pacing allows in the part of the step their
window is open (`cps`, and `max_live_calls` over the mean time a call holds its slot), and splits
the calls placed among outcome classes at random. The retry policy closes each share or gives it
its next due time, which frequency caps and the calling window move on, as
`services.redial.settle_contact` does for one contact. Steps with nothing to dial are skipped,
so the cost follows the number of steps and histories, not how many contacts share them.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date

from campaign.domain.forecast_calendar import HORIZON_S
from campaign.domain.forecast_mix import Draw, Split
from campaign.domain.forecast_setup import History, Setup
from campaign.domain.outcomes import OutcomeClass

# Why contacts wait when nothing can be dialed; `limited_by` names the one that cost most time.
WINDOWS, RETRY, CAPS = "windows", "retry delays", "frequency caps"
PACE, LIVE = "pace", "live calls"
NEVER_OPENS = "calling window never opens again"
CAMPAIGN_ENDS = "campaign ends first"
BEYOND = "not done within 400 days"

Entry = tuple[int, History]  # (zone set, history)
Bucket = dict[Entry, int]


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


def _share(take: int, counts: list[int]) -> list[int]:
    """`take` of `counts` in proportion to each (largest remainders first), never more than
    any one holds."""
    total = sum(counts)
    if take >= total:
        return list(counts)
    if total == max(counts):  # one zone set holds them all
        return [take if n else 0 for n in counts]
    exact = [n * take / total for n in counts]
    out = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: out[i] - exact[i])[: take - sum(out)]:
        out[i] += 1
    return out


def _within(bucket: Bucket, left: list[int]) -> Bucket:
    """The part of `bucket` each zone set may still dial this step (`left`), in proportion."""
    per_zone: dict[int, list[Entry]] = {}
    for entry in bucket:
        per_zone.setdefault(entry[0], []).append(entry)
    out: Bucket = {}
    for zk, entries in per_zone.items():
        shares = _share(max(0, left[zk]), [bucket[e] for e in entries])
        out.update((e, n) for e, n in zip(entries, shares, strict=True) if n)
    return out


class Run:
    """One run: `wait` or `ended` the starting groups, then `play()`."""

    def __init__(self, setup: Setup, draw: Draw, rng: random.Random) -> None:
        self.s = setup
        self.draw = draw
        self.rng = rng
        self.zones = len(setup.zone_sets)
        self.result = RunResult()
        self.waiting: dict[int, Bucket] = {}
        self.why_waiting: dict[int, dict[str, int]] = {}
        self.due_steps: list[int] = []
        self.ready: deque[tuple[Bucket, list[int]]] = deque()
        self.ready_zone = [0] * self.zones
        self.spans: list[tuple[float, float]] = [(0.0, -1.0)] * self.zones
        self.splits: dict[int, Split] = {}
        hold = draw.hold_s
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
        never opens again they close when decided (`decided_s`, else `due_s`)."""
        zk, history = entry
        hours = self.s.hours[zk]
        opens = hours.next_open(max(due_s, 0.0))
        if opens is None:
            why = CAMPAIGN_ENDS if hours.ends_campaign else NEVER_OPENS
            self.result.never[why] = self.result.never.get(why, 0) + count
            self._close(count, max(due_s if decided_s is None else decided_s, 0.0))
            return
        if opens > due_s + 1e-6:
            why = WINDOWS
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

    def _split(self, number: int) -> Split:
        found = self.splits.get(number)
        if found is None:
            own = {*self.s.policy.outcomes, OutcomeClass.HUMAN}
            found = self.splits[number] = Split.of(self.draw, number, own)
        return found

    def ended(self, entry: Entry, count: int, placed_s: float, held_left: float = 1.0) -> None:
        """`count` calls of `entry` (whose history already holds them) were placed at
        `placed_s`; they hold their slot for `held_left` of a call's duration from then."""
        split = self._split(entry[1][0])
        for i, share in enumerate(split.draw(count, self.rng)):
            if share:
                at_s = placed_s + held_left * split.held_s[i]
                self._settle(entry, split.classes[i], share, at_s)

    def _settle(self, entry: Entry, outcome: OutcomeClass | None, count: int, at_s: float) -> None:
        reached = outcome is OutcomeClass.HUMAN
        if outcome is None or outcome not in self.s.policy.outcomes:
            self._close(count, at_s, reached)
            return
        zk, (dials, counted, endings, steps) = entry
        i = self.s.position[outcome]
        ended = (*endings[:i], endings[i] + 1, *endings[i + 1 :])
        after: History = (dials, counted + self.s.counts[outcome], ended, steps)
        delay = self.s.redial_in(after, outcome, self.rng)
        if delay is None:
            self._close(count, at_s, reached)
            return
        due_s = at_s + delay
        allowed = self.s.allowed(zk, steps, due_s)
        why = CAPS if allowed > due_s else RETRY
        self.wait((zk, after), count, allowed + self.draw.lag_s, why, at_s)

    # -- the dispatch loop --------------------------------------------------------------------

    def _admit(self, step: int) -> None:
        """Contacts due in `step` join the ready queue if their window opens within the step."""
        bucket = self.waiting.pop(step)
        self.why_waiting.pop(step)
        t, dt = step * self.s.dt, self.s.dt
        ready: Bucket = {}
        for entry, count in bucket.items():
            zk = entry[0]
            span = self.s.hours[zk].span(t)
            if span is None or span[0] >= t + dt:
                self.wait(entry, count, t, WINDOWS)
                continue
            ready[entry] = count
            self.ready_zone[zk] += count
            if span[1] > self.spans[zk][1]:  # the latest opening decides
                self.spans[zk] = span
        if ready:
            self.ready.append((ready, [sum(ready.values())]))

    def _evict_closed(self, t: float) -> None:
        """Contacts still queued when their window has closed wait for it to open again."""
        closed = {zk for zk in range(self.zones) if self.ready_zone[zk] and self.spans[zk][1] < t}
        if not closed:
            return
        for bucket, total in self.ready:
            for entry in [e for e in bucket if e[0] in closed]:
                count = bucket.pop(entry)
                total[0] -= count
                self.ready_zone[entry[0]] -= count
                self.wait(entry, count, t, WINDOWS)
        self.ready = deque(item for item in self.ready if item[1][0] > 0)

    def _open_part(self, t: float) -> tuple[list[float], list[float]]:
        """Per zone set with contacts ready: the share of the step its window is open, and when
        the calls it places then go out on average."""
        dt = self.s.dt
        shares, placed = [0.0] * self.zones, [t + dt / 2] * self.zones
        for zk, n in enumerate(self.ready_zone):
            if n:
                opens, until = self.spans[zk]
                start, end = max(t, opens), min(t + dt, until)
                shares[zk] = max(0.0, end - start) / dt
                placed[zk] = (start + max(start, end)) / 2
        return shares, placed

    def _dial(self, capacity: float, shares: list[float], placed: list[float]) -> None:
        """Place up to `capacity` calls, earliest due first, each zone set within its part."""
        widest = max(shares)
        whole = all(s == widest for s, n in zip(shares, self.ready_zone, strict=True) if n)
        left = [int(capacity * s / widest + 0.5) for s in shares]
        room = int(capacity)
        for bucket, total in list(self.ready):
            if room <= 0:
                break
            eligible = bucket if whole else _within(bucket, left)
            size = total[0] if whole else sum(eligible.values())
            entries = list(eligible)
            counts = [eligible[e] for e in entries]
            taken = counts if size <= room else _share(room, counts)
            for entry, n in zip(entries, taken, strict=True):
                if not n:
                    continue
                zk = entry[0]
                if bucket[entry] == n:
                    del bucket[entry]
                else:
                    bucket[entry] -= n
                total[0] -= n
                room -= n
                left[zk] -= n
                self.ready_zone[zk] -= n
                self._place(entry, n, placed[zk])
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
            shares, placed = self._open_part(step * dt)
            if self.ready and max(shares) > 0:
                allowed = self.rate * dt * max(shares) + carry
                self._dial(allowed, shares, placed)
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
