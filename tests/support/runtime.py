"""A Runtime whose Celery sends are recorded instead of sent: for tests that drive one step."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from campaign.gateway.client import SavgClient
from campaign.runtime import Runtime, make_breaker
from campaign.services.dialing import DialDeps


@dataclass
class RecordingRuntime(Runtime):
    """Real PostgreSQL and Redis; the messages it would send to Celery land in lists."""

    dials: list[int] = field(default_factory=list)
    wakes: int = 0
    event_wakes: int = 0

    def enqueue_dials(self, attempt_ids: Sequence[int]) -> None:
        self.dials.extend(attempt_ids)

    def wake_consumer(self, attempt_id: int) -> None:
        self.wakes += 1

    def wake_events(self) -> None:
        self.event_wakes += 1


@contextmanager
def dial_deps(
    runtime: Runtime,
    gateway_url: str,
    clock: Callable[[], datetime],
    *,
    transport: httpx.BaseTransport | None = None,
    **settings: Any,
) -> Iterator[DialDeps]:
    """The dial path's dependencies on `runtime`'s stores, dialing `gateway_url` (a simulator)
    under `clock`, or `transport` in process (the dial benchmark's); `settings` overrides the
    runtime's."""
    dialing = runtime.settings.model_copy(update={"savg_base_url": gateway_url, **settings})
    client = SavgClient.from_settings(dialing, transport=transport)
    try:
        yield DialDeps(
            settings=dialing,
            sessions=runtime.sessions,
            limiter=runtime.limiter,
            breaker=make_breaker(runtime.redis, dialing),
            receipts=runtime.receipts,
            gateway=client,
            clock=clock,
            rng=random.Random(7),
            sleep=time.sleep,
        )
    finally:
        client.close()
