"""`campaign worker --autoscale MAX,MIN` on one host: threads grow under a backlog, shrink idle.

The observable is Celery's own: `inspect().stats()` reports the pool's size and busy threads and
the autoscaler's view, as `celery -A workers.app inspect stats` shows an operator.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import pytest

from tests import factories
from tests.ops.conftest import Ops
from tests.support.procs import CAMPAIGN, wait_for

pytestmark = pytest.mark.e2e


def _stats(ops: Ops, name: str) -> dict[str, Any]:
    node = ops.node(name)
    replies = ops.runtime.celery.control.inspect(destination=[node], timeout=2).stats() or {}
    stats: dict[str, Any] = replies[node]
    return stats


def test_autoscaled_worker_grows_threads_under_a_backlog_and_shrinks_when_idle(ops: Ops) -> None:
    ops.simulator()
    ops.sim.configure(faults={"slow_answer": {"rate": 1, "delay_ms": 1500}})
    ops.worker(
        "scaler",
        "--autoscale",
        "6,1",
        # Celery waits AUTOSCALE_KEEPALIVE seconds without new tasks before shrinking (30 s).
        env={"AUTOSCALE_KEEPALIVE": "1", "SAVG_READ_TIMEOUT_S": "10"},
    )
    idle = _stats(ops, "scaler")
    assert idle["pool"]["implementation"] == "workers.pool:ScalingThreadPool"
    assert (idle["pool"]["max-concurrency"], idle["autoscaler"]["max"]) == (1, 6)

    campaign_id = ops.dispatch(
        factories.us_numbers(12, start=7300),
        pacing={"cps": 50, "max_live_calls": 50, "max_call_duration": "2s"},
    )
    peak = {"size": 0, "busy": 0}

    def grown() -> bool:
        pool = _stats(ops, "scaler")["pool"]
        peak["size"] = max(peak["size"], pool["max-concurrency"])
        peak["busy"] = max(peak["busy"], pool["busy"])
        return bool(peak["busy"] == 6)

    wait_for(grown, 30, poll_s=0.1, what="six dial-outs in flight at once")
    assert peak["size"] == 6  # never above MAX

    def all_accepted() -> bool:
        return [a.state for a in ops.attempts(campaign_id)] == ["accepted"] * 12

    wait_for(all_accepted, 60, what="every dial-out to be accepted")
    assert len(ops.sim.calls()) == 12

    def shrunk() -> bool:
        return bool(_stats(ops, "scaler")["pool"]["max-concurrency"] == 1)

    started = time.monotonic()
    wait_for(shrunk, 30, poll_s=0.2, what="the pool to shrink back to MIN")
    assert time.monotonic() - started < 30


def test_autoscale_refuses_celerys_threads_pool_which_cannot_grow(ops: Ops) -> None:
    done = subprocess.run(
        [*CAMPAIGN, "worker", "--pool", "threads", "--autoscale", "4,1"],
        env={**os.environ, **ops.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --autoscale: Celery's threads pool cannot autoscale; drop --pool (threads that can)"
    ]
