"""CPU and statements per dial of the dial path (issue #12): `python -m bench.dial_cpu`.

A running campaign with N queued attempts (the real dispatcher's `tick`); each attempt is taken
and dialed in this process exactly as the dial task does (`claims.take`, then `dialing.dial`),
against an in-process gateway (httpx MockTransport answering every dial-out with a sid), so the
figures are the worker's Python and driver cost, with no simulator on the machine. Reports per
dial (median of rounds): this process's `time.process_time`, the CPU of the bench database's
PostgreSQL backends, and the statements and round trips sent (counted at the driver,
`counting`). `--caps` applies an account policy capping calls per number (the claim then reads
the number's history). Compare two checkouts back to back by
running a copy of this file under each's PYTHONPATH.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from sqlalchemy import select

from bench.env import bench_settings, database_name
from bench.procstats import CpuProfile, postgres_backends
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow
from campaign.services import account, claims, dialing
from campaign.services.dialing import DialDeps, DialResult
from campaign.settings import Settings
from schedules.dispatcher import tick
from tests import factories
from tests.support.runtime import RecordingRuntime, dial_deps

CAPS = {"compliance": {"per_number": {"per_day": 50, "per_week": 100}}}


def accept(request: httpx.Request) -> httpx.Response:
    """The gateway's answer to every dial-out: accepted, with a sid."""
    return httpx.Response(200, json={"sid": secrets.token_hex(8), "callId": secrets.token_hex(8)})


def queue(runtime: RecordingRuntime, count: int) -> list[int]:
    """`count` queued attempts of a new running campaign (the dispatcher's `tick`), by id."""
    doc = factories.spec(pacing={"cps": 1000, "max_live_calls": 100_000})
    with transaction(runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, doc)
        factories.add_contacts(
            session, campaign_id, factories.us_numbers(count, start=secrets.randbelow(10**6))
        )
    runtime.dials.clear()
    while len(runtime.dials) < count:
        if not tick(runtime, datetime.now(UTC), batch=count, horizon_s=3600).claimed:
            break
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(AttemptRow.id)
                .where(AttemptRow.campaign_id == campaign_id, AttemptRow.state == "queued")
                .order_by(AttemptRow.id)
            )
        )


@contextmanager
def counting() -> Iterator[dict[str, int]]:
    """What this process sends PostgreSQL while in the block: `statements` (through a cursor,
    pings included) and `commands` (BEGIN, COMMIT and ROLLBACK, which psycopg sends through a
    private generator), whichever layer (SQLAlchemy or the driver directly) sent them."""
    counts = {"statements": 0, "commands": 0}
    execute, command = psycopg.Cursor.execute, psycopg.Connection._exec_command

    def executed(*args: Any, **kwargs: Any) -> Any:
        counts["statements"] += 1
        return execute(*args, **kwargs)

    def commanded(*args: Any, **kwargs: Any) -> Any:
        counts["commands"] += 1
        return (yield from command(*args, **kwargs))

    psycopg.Cursor.execute = executed  # type: ignore[method-assign]
    psycopg.Connection._exec_command = commanded  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        psycopg.Connection._exec_command = command  # type: ignore[method-assign]


def report(unit: str, results: Sequence[tuple[float, float, float, float]]) -> None:
    """Print the medians over rounds of (worker CPU ms, PostgreSQL CPU ms) per `unit`, and the
    first round's statements and round trips per `unit`."""
    for name, values in (
        ("worker", [r[0] for r in results]),
        ("postgres", [r[1] for r in results]),
    ):
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name}_cpu_ms_per_{unit} {statistics.median(values):.2f} (runs {runs})")
    print(f"statements_per_{unit} {results[0][2]:.2f} (pings included)")
    print(f"round_trips_per_{unit} {results[0][3]:.2f} (BEGIN and COMMIT included)")


def dial_all(deps: DialDeps, attempt_ids: Iterable[int]) -> None:
    """Take and dial each attempt as the dial task does (the gateway accepts every one)."""
    for attempt_id in attempt_ids:
        claim = claims.take(deps.sessions, attempt_id, None, utcnow())
        assert claim is not None
        assert dialing.dial(deps, claim) is DialResult.sent


def _round(
    deps: DialDeps, runtime: RecordingRuntime, count: int
) -> tuple[float, float, float, float]:
    """(CPU ms per dial here, in PostgreSQL, statements and round trips per dial) over `count`
    fresh attempts."""
    ids = queue(runtime, count)
    # As the sweeper does on a Redis that lost its data (other sessions share the server).
    runtime.limiter.restore([], [], 0)
    return measure(runtime, len(ids), lambda: dial_all(deps, ids))


def measure(
    runtime: RecordingRuntime, units: int, work: Callable[[], None]
) -> tuple[float, float, float, float]:
    """Run `work` and return per unit of `units`: CPU ms of this process, CPU ms of the bench
    database's PostgreSQL backends, statements, and round trips sent."""
    database = database_name(runtime.settings)
    backends = CpuProfile({"postgres": lambda: postgres_backends(database)})
    with counting() as sent:
        backends.start()
        cpu0 = time.process_time()
        work()
        cpu = time.process_time() - cpu0
        backends.stop()
    per_unit = 1000 / units
    return (
        cpu * per_unit,
        backends.used["postgres"] * per_unit,
        sent["statements"] / units,
        (sent["statements"] + sent["commands"]) / units,
    )


def run(settings: Settings, count: int, rounds: int, caps: bool) -> None:
    runtime = RecordingRuntime(settings, pool_size=4)
    gateway = httpx.MockTransport(accept)
    try:
        with dial_deps(runtime, settings.savg_base_url, utcnow, transport=gateway) as deps:
            if caps:
                with transaction(runtime.sessions) as session:
                    account.apply(session, CAPS)
            _round(deps, runtime, 20)  # warm-up: compiled caches, connections, parsed spec
            results = [_round(deps, runtime, count) for _ in range(rounds)]
    finally:
        runtime.close()
    report("dial", results)


def arguments(doc: str, per_round: str) -> argparse.ArgumentParser:
    """The options these CPU benches share: what a round holds (`per_round`), and rounds."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help=per_round)
    parser.add_argument("--rounds", type=int, default=5)
    return parser


@contextmanager
def dialing_settings() -> Iterator[Settings]:
    """`bench_settings` for dialing an in-process gateway, with no trunk limit in the way."""
    with bench_settings() as settings:
        yield settings.model_copy(
            update={"savg_base_url": "http://savg.invalid", "trunk_cps": 1000.0}
        )


def main() -> None:
    parser = arguments(__doc__, "attempts per round")
    parser.add_argument("--caps", action="store_true", help="account caps calls per number")
    args = parser.parse_args()
    with dialing_settings() as settings:
        run(settings, args.count, args.rounds, args.caps)


if __name__ == "__main__":
    main()
