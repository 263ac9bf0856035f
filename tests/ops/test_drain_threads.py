"""Drain threads run in the workers that consume the notify queue, and only there (real worker
processes): a worker started for dials alone leaves the inbox's wake-ups to the others."""

from __future__ import annotations

import time

from tests.ops.conftest import Ops
from tests.support.procs import wait_for


def test_only_a_worker_of_the_notify_queue_takes_the_inbox_wake_ups(ops: Ops) -> None:
    redis, key = ops.runtime.redis, ops.runtime.drains_key
    ops.worker("dials", "-Q", ops.settings.queue("dial"), "--concurrency", "2")
    redis.rpush(key, 3)

    time.sleep(2.5)  # longer than a drain thread's pop: one would have taken it by now
    assert redis.llen(key) == 1

    ops.worker("decisions", "-Q", ops.settings.queue("notify"), "--concurrency", "1")
    wait_for(lambda: redis.llen(key) == 0, 15, what="a drain thread to take the wake-up")
