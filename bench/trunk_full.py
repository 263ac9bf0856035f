"""What a trunk slower than its campaigns costs the engine: `python -m bench.trunk_full`.

The real processes (simulator at real call lengths, API, 2 workers × 8 threads, a dispatcher)
run two campaigns at `cps: 20` each (`--cps`) on one trunk that the account policy limits
(`--limit live`: 5 live calls; `--limit cps`: 5 calls per second; `--limit none`: nothing, so
each campaign's own rate binds). Once the limit binds, the figures
are read over a window: CPU per second of the workers, the dispatcher, the bench database's
PostgreSQL backends and Redis, the calls the simulator saw placed, the attempts claimed and
waiting for the limiter (`dialing`), and the trunk's live calls (its leases, sampled every
0.25 s: a full trunk stays full). The trunk's pace is all that can happen, so CPU above what
its calls cost is overhead. Compare two checkouts by running a copy of this file under each's
PYTHONPATH, alternately.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from typing import Any

import psutil  # type: ignore[import-untyped]
from sqlalchemy import func, select

from bench.env import Stack, bench_settings, database_name, running_stack
from bench.procstats import CpuProfile, postgres_backends, redis_servers
from bench.runs import wait_logged
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow
from campaign.domain.account import trunk_name
from campaign.services import account
from tests import factories

TRUNK_CAP = 5
LIMITS: dict[str, dict[str, int]] = {
    "live": {"max_live_calls": TRUNK_CAP},
    "cps": {"cps": 5},
    "none": {},
}
CAMPAIGNS = 2
CPS = 20
FILL_S = 10.0
SAMPLE_S = 0.25


def _processes(stack: Stack, prefix: str) -> Any:
    return lambda: [psutil.Process(p.pid) for n, p in stack.procs.items() if n.startswith(prefix)]


def _waiting(stack: Stack) -> int:
    """Attempts claimed by a dial task and waiting for a slot."""
    with stack.runtime.sessions() as session:
        query = select(func.count()).where(AttemptRow.state == "dialing")
        return int(session.scalar(query) or 0)


def run(window_s: float, limit: str = "live", cps: float = CPS) -> None:
    with bench_settings() as settings, running_stack(settings, {"time_scale": 1.0}) as stack:
        stack.start_simulator()
        stack.start_api()
        stack.start_workers(2, 8)
        stack.start_dispatchers(1)
        wait_logged(stack, ["worker1", "worker2"], " ready.")
        with transaction(stack.runtime.sessions) as session:
            account.apply(session, {"trunks": {"default": LIMITS[limit]}})
            pacing = {"cps": cps, "max_live_calls": 5000, "max_call_duration": "10m"}
            for _ in range(CAMPAIGNS):
                campaign_id = factories.make_campaign(session, factories.spec(pacing=pacing))
                phones = factories.us_numbers(500, start=secrets.randbelow(10**6))
                factories.add_contacts(session, campaign_id, phones)
        time.sleep(FILL_S)
        cpu = CpuProfile(
            {
                "workers": _processes(stack, "worker"),
                "dispatcher": _processes(stack, "dispatcher"),
                "postgres": lambda: postgres_backends(database_name(settings)),
                "redis": redis_servers,
            }
        )
        placed = len(stack.sim.calls())
        limiter = stack.runtime.limiter
        trunk_key = limiter.live_key("trunk", trunk_name(None))
        live: list[int] = []
        cpu.start()
        ends = time.monotonic() + window_s
        while time.monotonic() < ends:
            live.append(limiter.live_count(trunk_key))
            time.sleep(SAMPLE_S)
        cpu.stop()
        placed = len(stack.sim.calls()) - placed
        stack.check_alive()
        for name, seconds in cpu.used.items():
            print(f"trunk_full_{name}_cpu_ms_per_s {1000 * seconds / window_s:.1f}")
        print(f"trunk_full_calls_placed {placed} (in {window_s:.0f} s, trunk {LIMITS[limit]})")
        if placed:
            per_call = 1000 * cpu.used["workers"] / placed
            print(f"trunk_full_workers_cpu_ms_per_call {per_call:.1f}")
        print(f"trunk_full_attempts_waiting {_waiting(stack)}")
        print(f"trunk_full_live_calls_mean {statistics.mean(live):.2f} (min {min(live)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured window")
    parser.add_argument("--limit", choices=sorted(LIMITS), default="live", help="the trunk's")
    parser.add_argument("--cps", type=float, default=CPS, help="each campaign's")
    args = parser.parse_args()
    run(args.seconds, args.limit, args.cps)


if __name__ == "__main__":
    main()
