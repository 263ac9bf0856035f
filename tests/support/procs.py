"""Real processes for end-to-end tests: started in their own process group, stopped by their pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

CAMPAIGN = [sys.executable, "-m", "campaign"]

# The engine's timers shortened for a stack of real processes (e2e tests, `make chaos`): deadlines,
# sweeps and breaker probes in seconds, so a recovery happens within a test. A sick gateway is
# probed every few seconds here, not up to every 5 minutes.
SHORT_TIMERS = {
    "DEADLINE_MARGIN_S": "1",
    "SWEEP_QUEUED_STALE_S": "3",
    "SWEEP_DIALING_STALE_S": "5",
    "SWEEP_INBOX_STALE_S": "3",
    "GATEWAY_BREAKER_COOLDOWN_S": "1",
    "GATEWAY_BREAKER_MAX_COOLDOWN_S": "3",
    "SAVG_READ_TIMEOUT_S": "2",
}


class Proc:
    """A child process with its output in a log file (shown when a test fails)."""

    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM the process group, then SIGKILL after `timeout_s`; returns the exit code."""
        self.signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            code = self.popen.wait(5)
        if not self._log.closed:
            self._log.close()
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        self.signal(signal.SIGKILL)
        self.popen.wait(5)
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def wait_http(url: str, proc: Proc, timeout_s: float = 30.0) -> None:
    """Wait until `url` answers 2xx, failing early if `proc` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{proc.name} did not answer {url}:\n{proc.tail()}")


def wait_for(
    predicate: object, timeout_s: float, poll_s: float = 0.2, what: str = "condition"
) -> None:
    """Poll `predicate()` until true."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll_s)
    raise TimeoutError(f"timed out waiting for {what}")
