"""What Celery costs a worker per task message: `python -m bench.message_cpu`.

One worker process (`campaign worker`, threads, as production runs it) drains N dial messages
whose attempts do not exist, so each task's body is one claim statement that finds nothing: what
is measured is Celery's share of a dial (the consumer's delivery and unacked bookkeeping, the
trace around the task, the ack of `acks_late`) plus that one statement. A batched dial task (one
message for many attempts) could save at most this much per dial, less the statement.

Reports per message (median of rounds): the worker's CPU (user + system, all its threads) and
how many messages per second it drained.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import cast

import psutil  # type: ignore[import-untyped]

from bench.env import Stack, bench_settings
from bench.procstats import cpu_seconds
from bench.runs import wait_logged

FIRST_ID = 10_000_000
"""Attempt ids far beyond any the bench database holds: every claim finds nothing."""


def _round(stack: Stack, worker: psutil.Process, first: int, count: int) -> tuple[float, float]:
    """(worker CPU-ms per message, messages per second) for `count` messages."""
    queue = stack.settings.queue("dial")
    before = cpu_seconds([worker])
    started = time.monotonic()
    stack.runtime.enqueue_dials(list(range(first, first + count)))
    while cast(int, stack.runtime.redis.llen(queue)) > 0:
        time.sleep(0.02)
    drained_s = time.monotonic() - started
    time.sleep(1.0)  # the last tasks run and ack after their messages left the list
    return (cpu_seconds([worker]) - before) * 1000 / count, count / drained_s


def run(count: int, rounds: int, concurrency: int) -> None:
    with bench_settings() as settings:
        stack = Stack(settings, {})
        try:
            stack.start_workers(1, concurrency)
            wait_logged(stack, ["worker1"], " ready.")
            worker = psutil.Process(stack.procs["worker1"].pid)
            _round(stack, worker, FIRST_ID, min(count, 200))  # warm-up: connections, imports
            results = [
                _round(stack, worker, FIRST_ID + (i + 1) * count, count) for i in range(rounds)
            ]
        finally:
            stack.close()
    for name, values in (
        ("worker_cpu_ms_per_message", [r[0] for r in results]),
        ("messages_per_s", [r[1] for r in results]),
    ):
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name} {statistics.median(values):.2f} (runs {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="the worker's threads")
    args = parser.parse_args()
    run(args.count, args.rounds, args.concurrency)


if __name__ == "__main__":
    main()
