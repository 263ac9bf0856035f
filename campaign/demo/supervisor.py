"""The demo's own process supervisor: start children, notice a death, stop everything.

Invariants:
- One supervisor per data folder at a time: `demo.lock` is held with `flock` for the
  supervisor's life, so a crash releases it by itself (no stale lock ever blocks a new run).
- The lock file lists every child (pid, start time). A new supervisor that takes over a folder
  whose previous owner died ends whatever of those children still runs; the start time guards
  against a recycled pid belonging to someone else.
- Each child leads its own process group (`start_new_session`), so a terminal's Ctrl-C reaches
  the supervisor only and shutdown happens in our order; stopping signals the whole group, so
  grandchildren go too. On Linux a child also gets SIGTERM if the supervisor dies (PDEATHSIG).
- `stop()` sends SIGTERM to every group, waits up to the grace period, then SIGKILLs the rest and
  reaps them: nothing started here outlives `stop()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil  # type: ignore[import-untyped]  # no stubs; only process queries are used

from campaign.errors import Conflict

LOCK_NAME = "demo.lock"
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """A supervised process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        """None while running; negative for death by signal (Popen's convention)."""
        return self.popen.poll()

    def tail(self, lines: int = 15) -> str:
        """The end of the child's log, for the message that says why it died."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _same_process(pid: int, started_at: float) -> psutil.Process | None:
    """The process `pid` if it is still the one started at `started_at`."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - started_at) < 1.0:
            return proc
    except psutil.Error:
        return None
    return None


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    """`with Supervisor(data_dir) as sup: sup.start("api", argv, env)`; leaving the block stops
    every child and releases the folder."""

    def __init__(self, data_dir: Path, *, grace_s: float = 20.0) -> None:
        self.data_dir = data_dir
        self.log_dir = data_dir / "logs"
        self.grace_s = grace_s
        self.children: dict[str, Child] = {}
        self.lock_path = data_dir / LOCK_NAME
        self._lock: IO[str] | None = None

    def __enter__(self) -> Supervisor:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self.release()

    def acquire(self) -> None:
        """Take the folder; end the leftovers of a previous owner that died without cleaning up.

        Raises Conflict when another live supervisor holds it.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = _read_record(handle.read()).get("owner", "?")
            handle.close()
            raise Conflict(
                f"{self.lock_path}: a demo (pid {owner}) is already running on this data folder; "
                "stop it or pass another --data-dir"
            ) from None
        handle.seek(0)
        stale = _read_record(handle.read())
        self._lock = handle
        self._end_leftovers(stale.get("children", []))
        self._write_record()

    def release(self) -> None:
        """Drop the lock and its file (idempotent)."""
        if self._lock is None:
            return
        self.lock_path.unlink(missing_ok=True)
        self._lock.close()
        self._lock = None

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """Start `argv` as `name`, output to `logs/<name>.log`, in a process group of its own."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(  # noqa: S603 - argv is built by the demo, not from input
                list(argv),
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        started = time.time()
        with contextlib.suppress(psutil.Error):
            started = psutil.Process(popen.pid).create_time()
        child = Child(name, popen, log_path, started)
        self.children[name] = child
        self._write_record()
        return child

    def casualty(self) -> Child | None:
        """The first child (in start order) that has exited, if any."""
        return next((c for c in self.children.values() if c.exit_code() is not None), None)

    def pids(self) -> list[int]:
        """Pids of the running children (their own children not included)."""
        return [c.pid for c in self.children.values() if c.exit_code() is None]

    def stop(self) -> None:
        """SIGTERM every child's group (last started first), wait, SIGKILL what is left, reap."""
        children = list(reversed(self.children.values()))
        for child in children:
            if child.exit_code() is None:
                _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(max(0.0, deadline - time.monotonic()))
        for child in children:
            # The group may hold grandchildren even after its leader exited.
            _signal_group(child.pid, signal.SIGKILL)
            if child.exit_code() is None:
                child.popen.wait(5)
        self.children.clear()
        if self._lock is not None:
            self._write_record()

    def _end_leftovers(self, records: list[dict[str, Any]]) -> None:
        procs = []
        for record in records:
            proc = _same_process(int(record["pid"]), float(record["started_at"]))
            if proc is not None:
                _signal_group(proc.pid, signal.SIGTERM)
                procs.append(proc)
        _, alive = psutil.wait_procs(procs, timeout=self.grace_s)
        for proc in alive:
            _signal_group(proc.pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)

    def _write_record(self) -> None:
        assert self._lock is not None  # noqa: S101 - only called while the lock is held
        record = {
            "owner": os.getpid(),
            "children": [
                {"name": c.name, "pid": c.pid, "started_at": c.started_at}
                for c in self.children.values()
            ],
        }
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(json.dumps(record))
        self._lock.flush()


def _read_record(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
