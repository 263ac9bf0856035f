"""Capacity planning: how many worker threads and processes the configured dial rates need.

A dial holds a worker thread from the moment its task starts until the gateway answers the POST:
a few database round trips (`overhead_s`), the sleep until its reserved pacing slot, and the POST
itself (`latency_s`). Little's law gives the threads busy on average at a rate λ: L = λ × W.

- **Latency**: callers pass the p95, not the median: the slow POSTs are the ones that pile up
  threads, and sizing on the median leaves every slow spell short of threads.
- **Pacing wait**: a dial reserves its campaign's next free slot and sleeps until it, at most
  `max_wait_s` (beyond that the task re-schedules itself and frees the thread). To dial at the full
  rate a thread must already be waiting when each slot comes up, so each dial waits about one
  emission interval 1/cps (capped at `max_wait_s`): per campaign, cps × min(1/cps, max_wait_s)
  threads, i.e. about one, however fast the campaign dials.
- **Trunk caps**: campaigns dialing through one trunk share its account-wide rate, so their sum is
  capped there; a capped trunk slows each of its campaigns in proportion.
- **Headroom**: sized at exactly L, any wobble in latency misses pacing slots; notification tasks
  share the same workers. The advice provisions `headroom` × L.

KEDA's Redis-list scaler asks for ceil(LLEN / listLength) replicas. The dispatcher queues only
about `horizon_s` seconds of dialing ahead, so the dial list never holds much more than
rate × horizon_s messages: a listLength above rate × horizon_s / workers can never ask for the
workers the rate needs. The advice gives that bound, and the worker count as the floor
(`minReplicaCount`), since a list the workers keep empty asks for nothing at all.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from campaign.domain.account import DEFAULT

DEFAULT_OVERHEAD_S = 0.02
DEFAULT_HEADROOM = 1.5
DEFAULT_PER_WORKER = 16
# Notifications share the workers, so even an idle fleet keeps a thread for them beside a dialer.
MIN_CONCURRENCY = 2


@dataclass(frozen=True)
class CampaignRate:
    """A running campaign's configured dial-outs per second, and the trunk it dials through."""

    campaign_id: int
    cps: float
    trunk: str = DEFAULT


@dataclass(frozen=True)
class Sizing:
    """The figures the advice rests on: measured latency, the deployment's settings, and policy.

    Invariants (checked on construction): latency, overhead and waits not negative, headroom at
    least 1, at least one thread per worker, positive trunk cap and horizon.
    """

    latency_s: float
    overhead_s: float = DEFAULT_OVERHEAD_S
    max_wait_s: float = 0.5
    headroom: float = DEFAULT_HEADROOM
    per_worker: int = DEFAULT_PER_WORKER
    trunk_cps: float | None = None
    horizon_s: float = 2.0

    def __post_init__(self) -> None:
        if min(self.latency_s, self.overhead_s, self.max_wait_s) < 0:
            raise ValueError("latency, overhead and pacing wait must not be negative")
        if self.headroom < 1:
            raise ValueError(f"headroom must be at least 1, got {self.headroom}")
        if self.per_worker < 1:
            raise ValueError(f"threads per worker must be at least 1, got {self.per_worker}")
        if self.trunk_cps is not None and self.trunk_cps <= 0:
            raise ValueError(f"trunk cps must be positive, got {self.trunk_cps}")
        if self.horizon_s <= 0:
            raise ValueError(f"horizon must be positive, got {self.horizon_s}")


@dataclass(frozen=True)
class Advice:
    """Threads and processes to provision; `busy_threads` is Little's L before headroom."""

    dial_rate: float
    hold_s: float
    busy_threads: float
    concurrency: int
    workers: int
    per_worker: int
    keda_list_length: int

    def backlog_s(self, queue_depth: int) -> float | None:
        """Seconds of dialing the waiting dial tasks represent at the configured rate."""
        return queue_depth / self.dial_rate if self.dial_rate > 0 else None


def trunk_rates(rates: Sequence[CampaignRate], trunk_cps: float | None) -> dict[str, float]:
    """Dial-outs per second each trunk will carry: its campaigns' sum, capped at `trunk_cps`."""
    totals: dict[str, float] = defaultdict(float)
    for rate in rates:
        if rate.cps <= 0:
            raise ValueError(f"campaign {rate.campaign_id}: cps must be positive, got {rate.cps}")
        totals[rate.trunk] += rate.cps
    if trunk_cps is None:
        return dict(totals)
    return {trunk: min(total, trunk_cps) for trunk, total in totals.items()}


def _pacing_threads(
    rates: Sequence[CampaignRate], carried: dict[str, float], max_wait_s: float
) -> float:
    totals: dict[str, float] = defaultdict(float)
    for rate in rates:
        totals[rate.trunk] += rate.cps
    threads = 0.0
    for rate in rates:
        cps = rate.cps * carried[rate.trunk] / totals[rate.trunk]
        threads += cps * min(1 / cps, max_wait_s)
    return threads


def advise(rates: Sequence[CampaignRate], sizing: Sizing) -> Advice:
    """Threads (`concurrency`) and worker processes the running campaigns' rates need.

    The workers split the threads evenly (`per_worker` each, never above `sizing.per_worker`);
    there is always at least one worker with MIN_CONCURRENCY threads, for notifications.
    """
    carried = trunk_rates(rates, sizing.trunk_cps)
    dial_rate = sum(carried.values())
    hold_s = sizing.latency_s + sizing.overhead_s
    busy = dial_rate * hold_s + _pacing_threads(rates, carried, sizing.max_wait_s)
    # Rounded to a micro-thread first, so float noise (1.5 × 2.0000000001) never adds a thread.
    concurrency = max(MIN_CONCURRENCY, math.ceil(round(busy * sizing.headroom, 6)))
    workers = math.ceil(concurrency / sizing.per_worker)
    per_worker = math.ceil(concurrency / workers)
    list_length = max(1, math.floor(dial_rate * sizing.horizon_s / workers))
    return Advice(
        dial_rate=dial_rate,
        hold_s=hold_s,
        busy_threads=busy,
        concurrency=concurrency,
        workers=workers,
        per_worker=per_worker,
        keda_list_length=list_length,
    )
