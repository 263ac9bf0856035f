"""What a chaos run does: the campaign, the system's size, and the faults on their schedule.

Pure data, so `python -m chaos --dry-run` can print a run's plan and a test can check it without
starting anything. Fault times are seconds after `campaign start`. Every fault must meet a
running campaign, so each schedule ends before the campaign could possibly be over: one call per
contact at the cps limit, plus the 500 burst during which nothing is placed (800 contacts at
20 cps and a 20 s burst: 60 s; with the redials the mix implies, about 1,100 calls and 75 s).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tests.factories import BASE_SPEC


class Kind(StrEnum):
    """The faults a schedule can hold (the simulator's steady faults are in `sim_faults`)."""

    KILL_WORKER = "kill_worker"
    GATEWAY_500 = "gateway_500"
    API_DOWN = "api_down"
    REDIS_RESTART = "redis_restart"
    POSTGRES_RESTART = "postgres_restart"


_WHAT = {
    Kind.KILL_WORKER: "SIGKILL {target}, start it again at once",
    Kind.GATEWAY_500: "gateway answers every dial-out with 500 for {seconds:g} s",
    Kind.API_DOWN: "API (notification receiver) SIGKILLed, started again after {seconds:g} s",
    Kind.REDIS_RESTART: "Redis stopped (all data gone), started again after {seconds:g} s",
    Kind.POSTGRES_RESTART: "PostgreSQL fast shutdown, started again after {seconds:g} s",
}


@dataclass(frozen=True)
class Fault:
    """One fault: `at_s` after the start; `seconds` is its duration or downtime."""

    at_s: float
    kind: Kind
    seconds: float = 0.0
    target: str = ""

    def describe(self) -> str:
        return _WHAT[self.kind].format(target=self.target, seconds=self.seconds)


@dataclass(frozen=True)
class Size:
    """The campaign and the system that dials it."""

    contacts: int
    cps: float
    max_live: int
    workers: int
    concurrency: int
    dispatchers: int
    timeout_s: float  # the campaign must complete within this after the start
    schedule: tuple[Fault, ...]

    @property
    def worker_names(self) -> tuple[str, ...]:
        return tuple(f"worker{i}" for i in range(1, self.workers + 1))


def _kill(at_s: float, worker: int) -> Fault:
    return Fault(at_s, Kind.KILL_WORKER, target=f"worker{worker}")


FULL = Size(
    contacts=800,
    cps=20,
    max_live=20,
    workers=4,
    concurrency=8,
    dispatchers=2,
    timeout_s=600,
    schedule=(
        _kill(4, 1),  # threads mostly sleep out pacing slots at 20 cps
        _kill(7, 2),
        Fault(10, Kind.GATEWAY_500, seconds=20),
        _kill(14, 3),  # while the breaker holds the campaign
        _kill(24, 4),
        Fault(31, Kind.REDIS_RESTART, seconds=2),
        _kill(34, 1),  # just after Redis came back
        Fault(36, Kind.API_DOWN, seconds=10),
        _kill(40, 2),  # while notifications are being lost
        _kill(48, 3),
        # Late enough for the API to be back (its restart takes seconds on a busy host), so each
        # fault's own effect shows: the API answering while PostgreSQL is away.
        Fault(54, Kind.POSTGRES_RESTART, seconds=3),
        _kill(57, 4),
        _kill(59, 1),
    ),
)

QUICK = Size(
    contacts=50,
    cps=5,
    max_live=4,
    workers=2,
    concurrency=4,
    dispatchers=1,
    timeout_s=90,
    schedule=(
        _kill(1, 1),
        Fault(2, Kind.GATEWAY_500, seconds=3),
        Fault(5.5, Kind.API_DOWN, seconds=2),
        Fault(7, Kind.REDIS_RESTART, seconds=1),
        _kill(8, 2),
        Fault(9, Kind.POSTGRES_RESTART, seconds=1),
    ),
)

# Throughout the run, at the gateway: 2 % of dial-outs reset after the call was placed, and
# notifications duplicated and `answered` posted after the final.
SIM_FAULTS: dict[str, Any] = {
    "connection_reset": {"rate": 0.02, "placed_ratio": 1.0},
    "duplicate": {"rate": 0.1, "delay_ms": 20},
    "reorder": {"rate": 0.1, "delay_ms": 20},
}
MIX = {"human": 60, "busy": 15, "no_answer": 10, "machine": 10, "rejected": 5}
TIME_SCALE = 0.01  # a 60 s simulated call lasts 0.6 s
# Answered calls talk 20-100 simulated seconds (0.2-1 s of wall time), so at 20 cps about a dozen
# calls are live on average and the live-call cap (20) binds at the peaks: both limits are tested.
SIM_TIMES: dict[str, Any] = {"talk_s": {"min": 20, "max": 100}}


def spec(size: Size, name: str) -> dict[str, Any]:
    """The campaign spec: short gateway timers so deadlines fall in seconds, and a retry policy
    that redials busy, no answer and rejected after seconds.

    `max_call_duration` is 10 s, though no simulated call lasts 1 s: it bounds how long an answered
    call whose final was lost keeps its slot, and must stay above the engine's own recovery times
    (a notification stored while Redis restarts waits for the inbox re-send, SWEEP_INBOX_STALE_S),
    as 30 minutes is above them in production. `gateway_error` is redialed up to 30 times so that
    refusals during the 500 burst never decide a contact's fate (see `judge._not_judgeable`).
    """
    return {
        "name": name,
        # The e2e tests' gateway block: 3 s ring timeout, 500 ms AMD timers (silent deadline 4.5 s).
        "gateway": {**copy.deepcopy(BASE_SPEC["gateway"]), "bot": "st-chaos-bot"},
        "pacing": {"cps": size.cps, "max_live_calls": size.max_live, "max_call_duration": "10s"},
        "retry": {
            "max_attempts": 4,
            "outcomes": {
                "busy": {"delays": ["1s", "2s", "2s"]},
                "no_answer": {"delays": ["2s", "2s"]},
                "rejected": {"delays": ["1s"], "max": 2},
                "gateway_error": {"delays": ["1s", "2s"], "max": 30},
            },
        },
    }


def phones(count: int) -> list[str]:
    """Distinct valid US numbers (New Jersey, +1 201 …), one per contact."""
    return [f"+1201{3000000 + i:07d}" for i in range(count)]


def dry_run(size: Size) -> str:
    """The plan as text: what `python -m chaos --dry-run` prints."""
    lines = [
        f"{size.contacts} contacts at {size.cps:g} cps, max {size.max_live} live calls; "
        f"{size.workers} workers x {size.concurrency} threads, {size.dispatchers} dispatchers, "
        f"API, simulator (time scale {TIME_SCALE})",
        "throughout: " + ", ".join(f"{name} {cfg['rate']:.0%}" for name, cfg in SIM_FAULTS.items()),
    ]
    lines += [f"t={f.at_s:>5.1f} s  {f.describe()}" for f in size.schedule]
    return "\n".join(lines)
