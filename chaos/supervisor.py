"""What compose's `restart: unless-stopped` and a Kubernetes Deployment do: start again any process
that exited on its own, and keep a record of it.

A process the schedule stopped on purpose (the API while it is down) is left alone. Every exit
the supervisor saw is reported with its exit code and the line of its log that says why, because
a process dying under a fault it should ride out is a finding even when the promises held.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from chaos.stack import ChaosStack
from tests.support.procs import Proc

_CAUSE = re.compile(r"CRITICAL|Unrecoverable|Error|Exception")


@dataclass(frozen=True)
class Exit:
    """A process that exited on its own, `at_s` after the start, and was started again."""

    name: str
    at_s: float
    code: int | None
    cause: str


def cause(proc: Proc) -> str:
    """The last log line that names an error (or the last line), trimmed for the table."""
    lines = [line for line in proc.tail(400).splitlines() if line.strip()]
    named = [line for line in lines if _CAUSE.search(line)]
    return (named or lines or ["(empty log)"])[-1].strip()[:300]


class Supervisor:
    """Polls the stack's processes on a thread of its own until `stop()`."""

    def __init__(self, stack: ChaosStack, t0: float, poll_s: float = 0.5) -> None:
        self.stack = stack
        self.t0 = t0
        self.poll_s = poll_s
        self.exits: list[Exit] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[Exit]:
        self._stop.set()
        self._thread.join()
        return self.exits

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.check()

    def check(self) -> None:
        """Restart every process that exited and was not held down on purpose."""
        with self.stack.lock:
            exited = [
                (name, proc)
                for name, proc in self.stack.procs.items()
                if name not in self.stack.held and not proc.alive()
            ]
            for name, proc in exited:
                at_s = time.monotonic() - self.t0
                self.exits.append(Exit(name, at_s, proc.popen.returncode, cause(proc)))
                proc.stop()  # reaps it and closes its log
                self.stack.respawn(name)
