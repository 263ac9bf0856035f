"""Dispatch throughput of the whole loop (issue #8 §2) and the processes' footprint (§7).

dispatch → Celery → dial → simulated call → notifications → API inbox → consumer → redial decision,
with pacing set as high as the engine allows (1000 calls/s) so only the machine limits the rate.
Completed attempts per second are read from the attempts' own `ended_at` between the 10th and 90th
percentile (the steady middle of the run, not its ramp-up and tail). Where the time goes is told
twice: CPU seconds per process over the runs, and the median time an attempt spends in each stage.
Resident memory of a worker, a dispatcher and the API is sampled at idle and under this load.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil  # type: ignore[import-untyped]
from sqlalchemy import select

from bench import spy
from bench.env import Stack, database_name, running_stack
from bench.figures import Figure, Report, figure
from bench.procstats import CpuProfile, RssSampler, postgres_backends, redis_servers, rss_mib
from bench.runs import finish, settle, start_campaign, start_loop
from campaign.db.tables import AttemptRow
from campaign.domain.pacing import MAX_CPS
from campaign.settings import Settings
from tests.factories import BASE_SPEC, us_numbers

# Calls of 2-80 ms wall time with the simulator's default outcome mix: busy, rejected and
# unavailable calls are redialed after 1 s, so the loop includes redial decisions.
THROUGHPUT_SIM: dict[str, Any] = {"time_scale": 0.001}
TARGET_PER_S = 300.0
STAGES = (
    ("queued_at", "claimed_at", "broker wait (queued to claimed)"),
    ("claimed_at", "sending_at", "gates and pacing (claimed to sending)"),
    ("sending_at", "accepted_at", "dial-out POST (sending to accepted)"),
    ("accepted_at", "ended_at", "call and notifications (accepted to decided)"),
)


@dataclass(frozen=True)
class ThroughputSizes:
    """Contacts per run, runs, the stack's shape, py-spy seconds and each run's time budget."""

    contacts: int = 6_000
    runs: int = 3
    workers: int = 4
    concurrency: int = 8
    dispatchers: int = 2
    spy_seconds: float = 10.0
    max_seconds: float = 60.0  # a run still going then is cancelled and measured as it stands


FULL = ThroughputSizes()
QUICK = ThroughputSizes(contacts=1_500, runs=2, spy_seconds=5.0, max_seconds=25.0)
TINY = ThroughputSizes(
    contacts=150,
    runs=1,
    workers=2,
    concurrency=4,
    dispatchers=1,
    spy_seconds=1.0,
    max_seconds=60.0,
)
SPIED = {
    "a worker": "worker1",
    "the API": "api",
    "a dispatcher": "dispatcher1",
    "the simulator": "simulator",
}


# The engine's own processes: what a deployment runs (the simulator and the driver are the rig).
ENGINE = ("workers", "api", "dispatchers", "postgres (bench db)")
RIG = {"redis-server (shared)": "one server for every user of the host"}


@dataclass(frozen=True)
class _Run:
    per_s: float
    ended: int
    stages_ms: dict[str, float]
    cpu_ms: dict[str, float]  # CPU milliseconds per ended attempt, by process group

    @property
    def engine_cpu_ms(self) -> float:
        return sum(self.cpu_ms[group] for group in ENGINE)


def _attempt_times(stack: Stack, campaign_id: int) -> list[tuple[datetime | None, ...]]:
    columns = [getattr(AttemptRow, name) for name in ("queued_at", *(s[1] for s in STAGES))]
    with stack.runtime.sessions() as session:
        rows = session.execute(select(*columns).where(AttemptRow.campaign_id == campaign_id))
        return [tuple(row) for row in rows]


def _measure(rows: list[tuple[datetime | None, ...]], cpu: CpuProfile) -> _Run:
    ended = sorted(end for *_, end in rows if end is not None)
    if len(ended) < 10:
        raise RuntimeError(f"only {len(ended)} attempts ended: nothing to measure")
    lo, hi = ended[len(ended) // 10], ended[(len(ended) * 9) // 10]
    span = (hi - lo).total_seconds()
    per_s = (len(ended) * 8 // 10) / span if span > 0 else 0.0
    names = ("queued_at", *(s[1] for s in STAGES))
    stages: dict[str, float] = {}
    for start, end, label in STAGES:
        i, j = names.index(start), names.index(end)
        pairs = [(row[i], row[j]) for row in rows]
        spans = [(b - a).total_seconds() * 1000 for a, b in pairs if a and b]
        stages[label] = statistics.median(spans) if spans else float("nan")
    cpu_ms = {group: 1000 * secs / len(ended) for group, secs in cpu.used.items()}
    return _Run(per_s, len(ended), stages, cpu_ms)


def _one_run(
    stack: Stack, sizes: ThroughputSizes, start: int, spied: dict[str, str]
) -> tuple[_Run, dict[str, str]]:
    """One campaign through the loop; the processes named in `spied` are sampled by py-spy."""
    stack.sim.reset()
    cpu = CpuProfile(_groups(stack))
    cpu.start()
    phones = us_numbers(sizes.contacts, start=start)
    campaign_id = start_campaign(
        stack, phones, cps=MAX_CPS, max_live=MAX_CPS, retry=BASE_SPEC["retry"]
    )
    spies = {
        label: spy.Spy(stack.procs[name].pid, sizes.spy_seconds, stack.log_dir / f"{name}.spy")
        for label, name in spied.items()
    }
    finish(stack, campaign_id, timeout_s=sizes.max_seconds)
    cpu.stop()
    settle(stack, campaign_id)  # a cancelled run's leftovers are neither this run's nor the next's
    profiles = {label: s.summary() for label, s in spies.items()}
    return _measure(_attempt_times(stack, campaign_id), cpu), profiles


def _footprint(idle: dict[str, float], peak: dict[str, float]) -> list[Figure]:
    return [
        figure(f"rss_{name}_{phase}_mib", [values[name]], "MiB", digits=1)
        for name in idle
        for phase, values in (("idle", idle), ("load", peak))
    ]


def run(settings: Settings, sizes: ThroughputSizes, report: Report) -> None:
    """Completed attempts/s, the CPU and stage profile, and the footprint figures.

    `loop_ceiling_attempts_per_s` is what the engine's processes could do if they had the host's
    cores to themselves: cores × 1000 / their CPU-ms per attempt. On a host shared with other
    work it says what the engine costs, where the measured rate says what it got.
    """
    cores = psutil.cpu_count()
    with running_stack(settings, THROUGHPUT_SIM) as stack:
        start_loop(stack, sizes.workers, sizes.concurrency, sizes.dispatchers)
        watched = {"worker": "worker1", "dispatcher": "dispatcher1", "api": "api"}
        pids = {kind: stack.procs[name].pid for kind, name in watched.items()}
        idle = {kind: rss_mib(pid) for kind, pid in pids.items()}
        # py-spy samples the last run only (it takes CPU of its own; the rate is the median):
        # in the first, each worker thread builds its gateway client (its TLS context, its
        # connection), which the profile then showed as a fifth of a worker's time.
        spied = SPIED if spy.available() else {}
        last = sizes.runs - 1
        with RssSampler(pids) as sampler:
            runs, profiles = [], {}
            for i in range(sizes.runs):
                result, sampled = _one_run(
                    stack, sizes, i * sizes.contacts, spied if i == last else {}
                )
                runs.append(result)
                profiles.update(sampled)
    report.add(
        [
            figure(
                "loop_attempts_per_s",
                [r.per_s for r in runs],
                "attempts/s",
                at_least=TARGET_PER_S,
                digits=1,
            ),
            figure("loop_attempts_per_run", [r.ended for r in runs], "attempts", digits=0),
            figure("loop_cpu_ms_per_attempt", [r.engine_cpu_ms for r in runs], "CPU-ms", digits=1),
            figure(
                "loop_ceiling_attempts_per_s",
                [cores * 1000 / r.engine_cpu_ms for r in runs],
                "attempts/s",
                at_least=TARGET_PER_S,
                digits=1,
            ),
            *_footprint(idle, sampler.peak),
        ]
    )
    report.sections["throughput: CPU-ms per completed attempt, by process (median of runs)"] = (
        "\n".join(
            f"{group:<24} {statistics.median(r.cpu_ms[group] for r in runs):7.2f}"
            + ("" if group in ENGINE else f"   (not counted: {RIG.get(group, 'test rig')})")
            for group in runs[0].cpu_ms
        )
    )
    for label, text in profiles.items():
        report.sections[f"throughput: py-spy, {label} (last run, {sizes.spy_seconds:g} s)"] = text
    if not spied:
        report.sections["throughput: py-spy"] = f"not installed ({spy.PY_SPY}): no sampling"
    report.sections["throughput: median time per attempt stage (ms)"] = "\n".join(
        f"{label:<48} " + "  ".join(f"{r.stages_ms[label]:8.1f}" for r in runs)
        for _, _, label in STAGES
    )


def _groups(stack: Stack) -> dict[str, Any]:
    def by_prefix(prefix: str) -> Any:
        return lambda: [
            psutil.Process(p.pid) for n, p in stack.procs.items() if n.startswith(prefix)
        ]

    database = database_name(stack.settings)
    return {
        "workers": by_prefix("worker"),
        "api": by_prefix("api"),
        "dispatchers": by_prefix("dispatcher"),
        "simulator": by_prefix("simulator"),
        "postgres (bench db)": lambda: postgres_backends(database),
        "redis-server (shared)": redis_servers,
        "bench driver": lambda: [psutil.Process()],
    }
