"""The simulator's witness of what the engine did: every placed call, refusal and notification.

Times are wall-clock epoch floats (`time.time()`). A call is live from `placed_at` to `ended_at`
(an unended call is live until now); the statistics are computed from these records alone, so a
test can recompute any figure from `GET /_sim/calls` and get the same number.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from campaign.simulator.planner import CallPlan
from campaign.simulator.request import DialRequest


@dataclass(slots=True)
class NotificationRecord:
    """One notification: `lost` ones are never sent (fault); `done` once delivery gave up or
    succeeded; `status_code` None with an `error` means no HTTP answer."""

    status: str
    body: dict[str, Any]
    due_at: float
    duplicate: bool = False
    lost: bool = False
    sent_at: float | None = None
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
    done: bool = False

    @property
    def delivered(self) -> bool:
        """The receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(slots=True)
class CallRecord:
    """One placed call, its plan (the truth) and what was posted about it."""

    sid: str
    call_id: str
    conversation_id: str
    request: DialRequest
    plan: CallPlan
    placed_at: float
    faults: list[str] = field(default_factory=list)
    answered_at: float | None = None
    ended_at: float | None = None
    notifications: list[NotificationRecord] = field(default_factory=list)
    # Scripted disposition posts (status "disposition"): kept apart from the gateway's own
    # notifications, which the statistics count.
    dispositions: list[NotificationRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The `GET /_sim/calls` row."""
        req, plan = self.request, self.plan
        return {
            "sid": self.sid,
            "callId": self.call_id,
            "conversationId": self.conversation_id,
            "bot": req.bot,
            "target": req.target,
            "number": req.number,
            "trunk": req.trunk,
            "caller": req.caller,
            "notifyurl": req.notifyurl,
            "metadata": req.metadata,
            "machineDetection": req.machine_detection,
            "placed_at": self.placed_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "outcome": plan.outcome.value,
            "reason": plan.reason,
            "amd": plan.amd,
            "ended_by": plan.ended_by,
            "faults": self.faults,
            "notifications": [{**asdict(n), "delivered": n.delivered} for n in self.notifications],
            "dispositions": [{**asdict(n), "delivered": n.delivered} for n in self.dispositions],
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    """A dial-out answered with an error: no call was placed."""

    at: float
    reason: str
    status: int  # 0: the connection was reset without an answer
    target: str | None


@dataclass(slots=True)
class Recorder:
    """All records since the last reset, with the per-number call counts scripts rely on."""

    calls: list[CallRecord] = field(default_factory=list)
    by_sid: dict[str, CallRecord] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    calls_per_number: Counter[str] = field(default_factory=Counter)
    accepted: int = 0  # dial-outs answered 200 (a reset after placing is not an answer)

    def placed(self, call: CallRecord) -> None:
        """Record a placed call; it becomes the number's next call for the scripts."""
        self.calls.append(call)
        self.by_sid[call.sid] = call
        self.calls_per_number[call.request.number] += 1

    def refused(self, reason: str, status: int, target: str | None = None) -> None:
        """Record a refused dial-out (no call placed)."""
        self.refusals.append(Refusal(time.time(), reason, status, target))

    def stats(self) -> dict[str, Any]:
        """Aggregates for `GET /_sim/stats`, derived from the records only."""
        starts = sorted(c.placed_at for c in self.calls)
        buckets = Counter(int(t) for t in starts)
        notes = [n for c in self.calls for n in c.notifications]
        sent = [n for n in notes if n.sent_at is not None]
        return {
            "placed": len(self.calls),
            "accepted": self.accepted,
            "live": sum(1 for c in self.calls if c.ended_at is None),
            "refused": dict(Counter(r.reason for r in self.refusals)),
            "refused_total": len(self.refusals),
            "outcomes": dict(Counter(c.plan.outcome.value for c in self.calls)),
            "cps_buckets": [[second, buckets[second]] for second in sorted(buckets)],
            "max_cps_1s_window": _max_in_window(starts, 1.0),
            "peak_concurrent": _peak(self.calls),
            "peak_concurrent_per_trunk": {
                trunk: _peak(calls) for trunk, calls in _group(self.calls, "trunk").items()
            },
            "calls_per_number": dict(self.calls_per_number),
            "overlaps": sum(_overlaps(calls) for calls in _group(self.calls, "number").values()),
            "notifications": {
                "sent": len(sent),
                "delivered": sum(1 for n in sent if n.delivered),
                "delivery_failures": sum(1 for n in sent if not n.delivered),
                "lost_by_fault": sum(1 for n in notes if n.lost),
                "duplicates": sum(1 for n in notes if n.duplicate),
                "in_flight": sum(1 for n in notes if not (n.lost or n.done)),
            },
        }


def _group(calls: list[CallRecord], attr: str) -> dict[str, list[CallRecord]]:
    groups: defaultdict[str, list[CallRecord]] = defaultdict(list)
    for call in calls:
        groups[getattr(call.request, attr)].append(call)
    return groups


def _max_in_window(sorted_times: list[float], width: float) -> int:
    """Most events in any half-open window [t, t + width)."""
    best, lo = 0, 0
    for hi, t in enumerate(sorted_times):
        while sorted_times[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _edges(calls: list[CallRecord]) -> list[tuple[float, int]]:
    # An end sorts before a start at the same instant: the slot was free again.
    edges = [(c.placed_at, 1) for c in calls]
    edges += [(c.ended_at if c.ended_at is not None else math.inf, -1) for c in calls]
    return sorted(edges)


def _peak(calls: list[CallRecord]) -> int:
    live = best = 0
    for _, step in _edges(calls):
        live += step
        best = max(best, live)
    return best


def _overlaps(calls: list[CallRecord]) -> int:
    """Pairs of calls to one number that were live at the same time."""
    live = pairs = 0
    for _, step in _edges(calls):
        if step > 0:
            pairs += live
        live += step
    return pairs
