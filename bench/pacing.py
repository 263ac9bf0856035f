"""Pacing precision (issue #8 §3) and the naive Celery baseline beside it (§4), in one stack.

Our engine: 4 worker processes and 2 dispatchers dial campaigns at 5, 50 and 200 calls/s; the
simulator's records give the achieved rate, the 1-second windows over the limit and the peak of
live calls. A run with a binding live-call cap shows the cap is never passed. Then our workers are
stopped and 4 baseline workers (`bench.naive`) with the same concurrency dial at 50/s. A last pair
drops 2 % of dial-out connections after the call was placed, to count duplicate dials.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench import naive
from bench.env import Stack, running_stack
from bench.figures import Figure, Report, figure
from bench.runs import (
    PACING_SIM,
    finish,
    settle,
    start_campaign,
    start_loop,
    wait_dialed,
    wait_logged,
)
from bench.witness import Witnessed, sending_marks, witness
from campaign.settings import Settings
from tests.factories import BASE_SPEC, us_numbers
from tests.support.services import free_port

NAIVE_CPS = 50
CAP_RUN_CPS = 200
CAP_RUN_LIVE = 20
RESET_FAULT = {"connection_reset": {"rate": 0.02, "placed_ratio": 1.0}}
NO_FAULTS: dict[str, Any] = {"connection_reset": {"rate": 0.0}}
RATIO_TARGET = (0.97, 1.0)
# One call per contact whatever happens (a final lost under load is not redialed), so the calls
# the simulator sees are exactly the contacts, as with the baseline.
ONE_CALL: dict[str, Any] = {"max_attempts": 1, "outcomes": {}}


BOX_SLACK_S = 10.0
"""What a time-boxed run may take beyond 1.5 × its dialing time (`_time_box`)."""


@dataclass(frozen=True)
class PacingSizes:
    """How long each run dials and how often each is repeated."""

    rates: tuple[int, ...] = (5, 50, 200)
    seconds: float = 20.0
    runs: int = 3
    fault_seconds: float = 10.0
    cap_contacts: int = 1000
    workers: int = 4
    concurrency: int = 8
    dispatchers: int = 2
    naive_slack_s: float = BOX_SLACK_S  # the baseline's; our runs always have BOX_SLACK_S


FULL = PacingSizes()
# The baseline always fills its time box (it dials far below its rate), so a shorter box is
# what quick saves here; its rate is measured over its calls' span either way.
QUICK = PacingSizes(seconds=4.0, runs=1, fault_seconds=3.0, cap_contacts=150, naive_slack_s=4.0)
TINY = PacingSizes(
    rates=(5, 50),
    seconds=1.5,
    runs=1,
    fault_seconds=1.5,
    cap_contacts=40,
    workers=2,
    concurrency=4,
    dispatchers=1,
)


def _time_box(seconds: float, slack_s: float = BOX_SLACK_S) -> float:
    """How long a run that should dial for `seconds` may take: a rate far below the configured
    one is measured on what was placed by then (the ratio says how far below)."""
    return seconds * 1.5 + slack_s


class Numbers:
    """Fresh phone numbers for every run, so no run sees another's calls to a number."""

    def __init__(self) -> None:
        self._next = 0

    def take(self, count: int) -> list[str]:
        out = us_numbers(count, start=self._next)
        self._next += count
        return out


def dial_ours(
    stack: Stack,
    numbers: Numbers,
    cps: float,
    seconds: float,
    max_live: int,
    faults: dict[str, Any],
) -> Witnessed:
    stack.sim.reset()
    stack.sim.configure(faults=faults)
    phones = numbers.take(math.ceil(cps * seconds) + 1)
    campaign_id = start_campaign(stack, phones, cps=cps, max_live=max_live, retry=ONE_CALL)
    wait_dialed(stack, len(phones), timeout_s=_time_box(len(phones) / min(cps, max_live)))
    finish(stack, campaign_id, timeout_s=10)
    settle(stack, campaign_id)
    stack.sim.wait_quiet(timeout_s=30)
    calls = stack.sim.calls()
    with stack.runtime.sessions() as session:
        marks = sending_marks(session, calls, stack.settings.notify_secrets)
    return witness(calls, stack.sim.stats(), cps, max_live, marks=marks)


def _start_naive_workers(stack: Stack, sizes: PacingSizes, cps: float) -> None:
    names = [f"naive{i}" for i in range(1, sizes.workers + 1)]
    for name in names:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.naive",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(sizes.concurrency),
            "-Q",
            naive.queue_name(stack.settings),
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]
        stack.start(name, argv, {naive.RATE_LIMIT_ENV: f"{cps:g}/s"})
    wait_logged(stack, names, " ready.")


def _naive(
    stack: Stack, sizes: PacingSizes, numbers: Numbers, seconds: float, faults: dict[str, Any]
) -> Witnessed:
    """One baseline run, time-boxed: the baseline may dial far slower than configured, so what
    it placed by then is measured, then its workers are stopped and its queue emptied, so no
    task of this run dials into the next."""
    cps = NAIVE_CPS
    _start_naive_workers(stack, sizes, cps)
    stack.sim.reset()
    stack.sim.configure(faults=faults)
    phones = numbers.take(math.ceil(cps * seconds) + 1)
    gateway = BASE_SPEC["gateway"]
    # Nobody listens on this port: the baseline has no receiver, so its notifications go nowhere.
    fields = {
        "bot": gateway["bot"],
        "caller": gateway["caller"],
        "notifyurl": f"http://127.0.0.1:{free_port()}/notify/naive",
    }
    naive.enqueue(stack.settings, phones, fields)
    wait_dialed(stack, len(phones), timeout_s=_time_box(seconds, sizes.naive_slack_s))
    time.sleep(naive.RETRY_COUNTDOWN_S * 2 + 1)  # let countdown retries of the last calls land
    stack.stop("naive")
    naive.purge(stack.runtime.redis, stack.settings)
    stack.sim.wait_quiet(timeout_s=30)
    return witness(stack.sim.calls(), stack.sim.stats(), cps, sys.maxsize, "number")


def run(settings: Settings, sizes: PacingSizes, report: Report) -> None:
    """Every pacing figure, ours and the baseline's, from one stack."""
    numbers = Numbers()
    ours: dict[int, list[Witnessed]] = {cps: [] for cps in sizes.rates}
    with running_stack(settings, PACING_SIM) as stack:
        start_loop(stack, sizes.workers, sizes.concurrency, sizes.dispatchers)
        for _ in range(sizes.runs):
            for cps in sizes.rates:
                run = dial_ours(stack, numbers, cps, sizes.seconds, max(20, cps), NO_FAULTS)
                ours[cps].append(run)
        capped = dial_ours(
            stack, numbers, CAP_RUN_CPS, sizes.cap_contacts / CAP_RUN_CPS, CAP_RUN_LIVE, NO_FAULTS
        )
        ours_reset = dial_ours(
            stack, numbers, NAIVE_CPS, sizes.fault_seconds, NAIVE_CPS, RESET_FAULT
        )
        stack.stop("worker")
        stack.stop("dispatcher")
        base = [_naive(stack, sizes, numbers, sizes.seconds, NO_FAULTS) for _ in range(sizes.runs)]
        base_reset = _naive(stack, sizes, numbers, sizes.fault_seconds, RESET_FAULT)
    report.add(_figures(ours, capped, ours_reset, base, base_reset))


def _figures(
    ours: dict[int, list[Witnessed]],
    capped: Witnessed,
    ours_reset: Witnessed,
    base: list[Witnessed],
    base_reset: Witnessed,
) -> list[Figure]:
    low, high = RATIO_TARGET
    out = [
        figure(
            f"pacing_ratio_{cps}",
            [w.ratio for w in runs],
            "x configured",
            at_least=low,
            at_most=high,
        )
        for cps, runs in ours.items()
    ]
    per_run = [list(group) for group in zip(*ours.values(), strict=True)]
    out += [
        figure(
            "over_limit_windows",
            [sum(w.over_limit_windows for w in group) for group in per_run],
            "windows",
            at_most=0,
            note="1-s sliding windows with more calls than cps, summed over the rates of a run",
        ),
        figure(
            "peak_live_over_cap",
            [max(w.peak_live - w.max_live for w in [*group, capped]) for group in per_run],
            "calls",
            at_most=0,
            note="peak live calls minus max_live_calls; includes a run where the cap binds",
        ),
        figure("capped_run_peak_live", [capped.peak_live], "calls", at_most=capped.max_live),
        figure("capped_run_cps", [capped.achieved_cps], "calls/s"),
        figure(
            "duplicate_dials", [sum(w.duplicates for w in g) for g in per_run], "calls", at_most=0
        ),
        figure(
            "naive_pacing_ratio_50",
            [w.ratio for w in base],
            "x configured",
            at_least=low,
            at_most=high,
        ),
        figure(
            "naive_over_limit_windows", [w.over_limit_windows for w in base], "windows", at_most=0
        ),
        figure("naive_max_calls_in_1s_50", [w.max_in_1s for w in base], "calls", at_most=50),
        figure("naive_duplicate_dials", [w.duplicates for w in base], "calls", at_most=0),
        figure("duplicate_dials_reset_2pct", [ours_reset.duplicates], "calls", at_most=0),
        figure("naive_duplicate_dials_reset_2pct", [base_reset.duplicates], "calls", at_most=0),
    ]
    out += [
        figure(
            f"over_limit_windows_{cps}", [w.over_limit_windows for w in runs], "windows", at_most=0
        )
        for cps, runs in ours.items()
    ]
    out += [
        figure(
            f"engine_over_limit_windows_{cps}",
            [w.late_free_windows for w in runs if w.late_free_windows is not None],
            "windows",
            at_most=0,
            note="of those, windows with no call delayed past the slack after its sending mark",
        )
        for cps, runs in ours.items()
    ]
    top = max(ours)
    out.append(
        figure(f"max_calls_in_1s_{top}", [w.max_in_1s for w in ours[top]], "calls", at_most=top)
    )
    return out
