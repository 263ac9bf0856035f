"""The receiver's wake-ups reach the worker's drain threads through a Redis list (real Redis),
and the drain threads drain what they pop, through failures, until stopped."""

from __future__ import annotations

import threading
import time

from campaign.runtime import WAKE_TTL_MS, Runtime
from workers import drainers
from workers.drainers import Drainers


def test_a_share_whose_key_was_clear_is_pushed_once_for_a_drain(
    sending_runtime: Runtime,
) -> None:
    rt = sending_runtime
    rt.redis.set(rt.wake_key(5), 1)  # a drain of share 5 was woken and has not started

    rt._wake_consumers({3, 5, 1})
    rt._wake_consumers({3})  # its key is set now: no second drain

    assert [rt.next_drain(0.1) for _ in range(3)] == [1, 3, None]
    assert 0 < rt.redis.pttl(rt.wake_key(3)) <= WAKE_TTL_MS  # a lost wake-up expires


def test_a_cleared_key_wakes_the_share_again(sending_runtime: Runtime) -> None:
    rt = sending_runtime
    rt._wake_consumers({2})
    rt.clear_wake(2)  # what a drain does before its read

    rt._wake_consumers({2})

    assert [rt.next_drain(0.1) for _ in range(3)] == [2, 2, None]


def test_drain_threads_drain_each_share_popped_and_survive_a_failure(
    sending_runtime: Runtime,
) -> None:
    rt = sending_runtime
    drained: list[int] = []
    done = threading.Event()

    def drain(shard: int) -> None:
        if shard == 4 and 4 not in drained:
            drained.append(4)
            raise RuntimeError("database restarting")
        drained.append(shard)
        if len(drained) == 3:
            done.set()

    pool = Drainers(rt.next_drain, drain, threads=1)
    pool.start()
    try:
        rt._wake_consumers({4})  # its drain fails; the thread rests RETRY_S and goes on
        rt.clear_wake(4)
        rt._wake_consumers({4, 6})
        assert done.wait(drainers.RETRY_S + 5)
    finally:
        pool.stop()
    assert drained == [4, 4, 6]


def test_stopping_waits_for_the_drain_under_way(sending_runtime: Runtime) -> None:
    rt = sending_runtime
    started, finished = threading.Event(), threading.Event()

    def drain(shard: int) -> None:
        started.set()
        time.sleep(0.3)
        finished.set()

    pool = Drainers(rt.next_drain, drain, threads=2)
    pool.start()
    rt._wake_consumers({7})
    assert started.wait(5)

    pool.stop()

    assert finished.is_set()
