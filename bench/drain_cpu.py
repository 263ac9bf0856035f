"""CPU and statements per final of the consumer (issue #12): `python -m bench.drain_cpu`.

N attempts are dialed as in `bench.dial_cpu` (accepted, with a sid, against an in-process
gateway); each gets one final (`bench.notify`'s bodies: a third busy, so the policy redials; the
rest completed by a person), stored by the receiver's own statement (`intake.receive`) and applied
by the drain (`workers.notifications.drain`, what a worker's drain threads call, called in this
process on this bench's runtime) for the attempt's shard. By default each final is stored, then
drained on its own, as in the closed loop, where nearly every drain finds one row; `--backlog`
stores all of a round's finals first, then runs one drain per shard (one applying many rows).

Reports per final (median of rounds), counting only the drain tasks' time: this process's
`time.process_time`, the CPU of the bench database's PostgreSQL backends (their schedstat run
time, in ns: the per-task windows are far shorter than the 10-ms ticks psutil reads), and the
statements the engine sent (pre-pings included). Compare two checkouts back to back by running a
copy of this file (and of `bench/dial_cpu.py`) under each's PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

import workers.runtime
from bench.dial_cpu import accept, arguments, counting, dial_all, dialing_settings, queue, report
from bench.env import database_name
from bench.notify import final_body
from bench.procstats import postgres_backends
from campaign.clock import utcnow
from campaign.domain.outcomes import parse_notification
from campaign.services import intake
from campaign.services.dialing import DialDeps
from campaign.services.notifications import DRAIN_SHARDS, shard_of
from campaign.settings import Settings
from tests.support.runtime import RecordingRuntime, dial_deps

if TYPE_CHECKING:
    from celery import Task


def _run_ns(database: str) -> dict[int, int]:
    """Nanoseconds on CPU so far of each PostgreSQL backend of `database`, by pid."""
    out = {}
    for proc in postgres_backends(database):
        try:
            with open(f"/proc/{proc.pid}/schedstat") as stat:
                out[proc.pid] = int(stat.read().split()[0])
        except OSError:  # it exited meanwhile
            continue
    return out


class _Meter:
    """CPU of this process and of the database's backends, summed over the measured windows."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.worker_s = 0.0
        self.postgres_ns = 0

    @contextmanager
    def window(self) -> Iterator[None]:
        before = _run_ns(self.database)
        cpu0 = time.process_time()
        yield
        self.worker_s += time.process_time() - cpu0
        after = _run_ns(self.database)  # a backend born meanwhile counts from zero
        self.postgres_ns += sum(ns - before.get(pid, 0) for pid, ns in after.items())


def _store(runtime: RecordingRuntime, loop: asyncio.AbstractEventLoop, attempt_id: int) -> None:
    """Store the attempt's final as the receiver does (it awaits a consumer)."""
    body = final_body(attempt_id)
    received = intake.receive(
        runtime.intake,
        attempt_id=attempt_id,
        body=body,
        headers={},
        notification=parse_notification(body),
        now=utcnow(),
    )
    assert loop.run_until_complete(received).for_consumer


def _round(
    deps: DialDeps,
    runtime: RecordingRuntime,
    drain: Callable[[int], int],
    loop: asyncio.AbstractEventLoop,
    count: int,
    backlog: bool,
) -> tuple[float, float, float, float]:
    """(CPU ms per final here, in PostgreSQL, statements and round trips per final) over `count`
    fresh attempts."""
    ids = queue(runtime, count)
    # As the sweeper does on a Redis that lost its data (other sessions share the server).
    runtime.limiter.restore([], [], 0)
    dial_all(deps, ids)
    meter = _Meter(database_name(runtime.settings))
    applied = 0
    with counting() as sent:
        if backlog:
            for attempt_id in ids:
                _store(runtime, loop, attempt_id)
            for shard in range(DRAIN_SHARDS):
                with meter.window():
                    applied += drain(shard)
        else:
            for attempt_id in ids:
                _store(runtime, loop, attempt_id)
                with meter.window():
                    applied += drain(shard_of(attempt_id))
    assert applied == len(ids), (applied, len(ids))
    per_final = 1000 / len(ids)
    return (
        meter.worker_s * per_final,
        meter.postgres_ns / 1e9 * per_final,
        sent["statements"] / len(ids),
        (sent["statements"] + sent["commands"]) / len(ids),
    )


def run(settings: Settings, count: int, rounds: int, backlog: bool) -> None:
    runtime = RecordingRuntime(settings, pool_size=4)
    # The task reads the worker's runtime: this bench's, set before the task module binds it.
    workers.runtime.runtime = lambda: runtime  # type: ignore[assignment]
    from workers.notifications import drain  # after the runtime is set

    task: Task = drain
    gateway = httpx.MockTransport(accept)
    loop = asyncio.new_event_loop()
    try:
        with dial_deps(runtime, settings.savg_base_url, utcnow, transport=gateway) as deps:
            # Warm-up: compiled caches, connections, parsed spec.
            _round(deps, runtime, task, loop, 20, backlog)
            results = [_round(deps, runtime, task, loop, count, backlog) for _ in range(rounds)]
    finally:
        runtime.close()
        loop.close()
    report("final", results)


def main() -> None:
    parser = arguments(__doc__, "finals per round")
    parser.add_argument(
        "--backlog", action="store_true", help="store a round's finals, then drain each shard once"
    )
    args = parser.parse_args()
    with dialing_settings() as settings:
        run(settings, args.count, args.rounds, args.backlog)


if __name__ == "__main__":
    main()
