"""The autoscalable thread pool on its own: grow, shrink only idle threads, warm stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.procs import wait_for
from workers.pool import ScalingThreadPool
from workers.runtime import pool_size_for


@pytest.fixture
def pool() -> Iterator[ScalingThreadPool]:
    p = ScalingThreadPool(limit=1)
    p.start()
    yield p
    p.stop()


def _info(pool: ScalingThreadPool) -> dict[str, Any]:
    info: dict[str, Any] = pool.info
    return info


def test_grow_adds_threads_that_run_jobs_side_by_side(pool: ScalingThreadPool) -> None:
    gate = threading.Event()
    pool.grow(2)
    for _ in range(3):
        pool.apply_async(gate.wait, callback=lambda _: None)
    wait_for(lambda: _info(pool)["busy"] == 3, 5, poll_s=0.01, what="three jobs at once")
    assert (pool.num_processes, _info(pool)["threads"]) == (3, 3)
    gate.set()


def test_shrink_refuses_to_retire_busy_threads(pool: ScalingThreadPool) -> None:
    gate = threading.Event()
    pool.grow(1)
    pool.apply_async(gate.wait, callback=lambda _: None)
    wait_for(lambda: _info(pool)["busy"] == 1, 5, poll_s=0.01, what="a busy thread")
    with pytest.raises(ValueError, match="1 of 2 threads idle"):
        pool.shrink(2)
    pool.shrink(1)
    assert pool.num_processes == 1
    wait_for(lambda: _info(pool)["threads"] == 1, 5, poll_s=0.01, what="one thread retired")
    gate.set()


def test_warm_stop_finishes_running_jobs_and_drops_the_ones_not_started() -> None:
    pool = ScalingThreadPool(limit=1)
    pool.start()
    gate = threading.Event()
    finished: list[str] = []
    pool.apply_async(lambda: (gate.wait(), finished.append("running")), callback=lambda _: None)
    wait_for(lambda: _info(pool)["busy"] == 1, 5, poll_s=0.01, what="the job to start")
    pool.apply_async(finished.append, args=("queued",), callback=lambda _: None)
    threading.Timer(0.2, gate.set).start()
    pool.stop()
    assert finished == ["running"]
    assert _info(pool)["threads"] == 0


@pytest.mark.parametrize(("threads", "pool"), [(1, 1), (2, 1), (8, 4), (16, 8), (17, 9), (64, 32)])
def test_the_database_pool_covers_every_thread_of_the_worker(threads: int, pool: int) -> None:
    # `worker_init` sizes it from --concurrency (or the --autoscale max); overflow doubles it.
    assert pool_size_for(threads) == pool
    assert 2 * pool_size_for(threads) >= threads
