"""The worker process's resources: one Runtime per process, one gateway client per thread.

A SavgClient per thread because one httpx client shared across many threads was measured several
times slower than a client each (docs/architecture.md, field notes).
"""

from __future__ import annotations

import random
import threading
import time
from functools import lru_cache

from campaign.clock import utcnow
from campaign.gateway.client import SavgClient
from campaign.runtime import Runtime
from campaign.services.dialing import DialDeps
from campaign.settings import get_settings

_local = threading.local()


def pool_size_for(threads: int) -> int:
    """The engine's pool (it allows as many again in overflow) for `threads` worker threads: a
    dial holds at most one connection at a time, so pool + overflow = threads, rounded up."""
    return max(1, (threads + 1) // 2)


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """This process's runtime, from the environment; `worker_init` sizes its pool to the
    worker's threads before the first connection (docs/production.md: the connection budget)."""
    return Runtime(get_settings(), pool_size=pool_size_for(16))


def dial_deps() -> DialDeps:
    """The dial path's dependencies for the calling thread."""
    deps: DialDeps | None = getattr(_local, "deps", None)
    if deps is None:
        rt = runtime()
        deps = DialDeps(
            settings=rt.settings,
            sessions=rt.sessions,
            limiter=rt.limiter,
            breaker=rt.breaker,
            receipts=rt.receipts,
            gateway=SavgClient.from_settings(rt.settings),
            clock=utcnow,
            rng=random.Random(),
            sleep=time.sleep,
        )
        _local.deps = deps
    return deps
