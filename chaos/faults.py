"""Injecting the schedule's faults into a running stack, each at its time, each on its own thread.

A fault with a duration (the API down for 10 s) must not delay the next one (a worker killed
while the API is down), so every fault runs on a thread of its own, started at its time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from campaign.db.tables import AttemptRow
from campaign.domain.states import AttemptState
from chaos.plan import Fault, Kind
from chaos.stack import ChaosStack


@dataclass(frozen=True)
class Injected:
    """A fault as it happened: seconds after the start it began and ended, and what was seen."""

    fault: Fault
    began_s: float
    ended_s: float
    note: str = ""


class Injector:
    """Runs faults against `stack`; times are seconds after `t0` (a `time.monotonic()` value)."""

    def __init__(self, stack: ChaosStack, t0: float, log: Callable[[str], None]) -> None:
        self.stack = stack
        self.t0 = t0
        self.log = log
        self.done: list[Injected] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def run(self, schedule: tuple[Fault, ...]) -> list[Injected]:
        """Start each fault at its time; return once every one has finished, in start order."""
        threads = []
        for fault in sorted(schedule, key=lambda f: f.at_s):
            time.sleep(max(0.0, fault.at_s - self.now()))
            thread = threading.Thread(target=self._inject, args=(fault,), name=fault.kind)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        return sorted(self.done, key=lambda i: i.began_s)

    def _inject(self, fault: Fault) -> None:
        began = self.now()
        self.log(f"t={began:6.1f} s  {fault.describe()}")
        actions: dict[Kind, Callable[[Fault], str]] = {
            Kind.KILL_WORKER: self._kill_worker,
            Kind.GATEWAY_500: self._gateway_500,
            Kind.API_DOWN: self._api_down,
            Kind.REDIS_RESTART: self._redis_restart,
            Kind.POSTGRES_RESTART: self._postgres_restart,
        }
        try:
            note = actions[fault.kind](fault)
        except Exception as exc:  # reported in the table; the run goes on
            note = f"FAILED: {type(exc).__name__}: {exc}"
            self.log(f"t={self.now():6.1f} s  {fault.kind} {note}")
        with self._lock:
            self.done.append(Injected(fault, began, self.now(), note))

    def _kill_worker(self, fault: Fault) -> str:
        waiting = self._attempts_dialing()
        self.stack.kill(fault.target, restart=True)
        return f"{waiting} attempts claimed and not yet sent (pacing) across workers"

    def _attempts_dialing(self) -> str:
        try:
            with self.stack.runtime.sessions() as session:
                count = session.scalar(
                    select(func.count())
                    .select_from(AttemptRow)
                    .where(AttemptRow.state == AttemptState.DIALING.value)
                )
        except SQLAlchemyError:
            return "?"
        return str(count)

    def _gateway_500(self, fault: Fault) -> str:
        sim = self.stack.sim
        sim.configure(
            faults={"burst_5xx": {"rate": 1.0, "status": 500, "duration_ms": fault.seconds * 1000}}
        )
        deadline = time.monotonic() + 30
        # The burst starts with the first dial-out it refuses and then lasts its duration;
        # turning the rate off afterwards keeps it from starting again.
        while sim.stats()["refused"].get("burst_5xx", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        sim.configure(faults={"burst_5xx": {"rate": 0.0}})
        time.sleep(fault.seconds)
        return ""

    def _api_down(self, fault: Fault) -> str:
        self.stack.kill("api", restart=False)
        time.sleep(fault.seconds)
        self.stack.release("api")
        return f"answering again at t={self.now():.1f} s"

    def _redis_restart(self, fault: Fault) -> str:
        self.stack.restart_redis(fault.seconds, time.sleep)
        return f"answering again at t={self.now():.1f} s"

    def _postgres_restart(self, fault: Fault) -> str:
        self.stack.restart_postgres(fault.seconds, time.sleep)
        return f"answering again at t={self.now():.1f} s"
