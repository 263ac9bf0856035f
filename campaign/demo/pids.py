"""Finding and stopping the embedded servers by pid: they are daemons, nobody's child.

A pid file may outlive its process and the pid may be reused, so a pid counts only while it runs
the program named (`process_named`); stopping always ends in SIGKILL and a wait, so a caller that
asked for a stop can rely on the port and the data folder being free.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs; only process queries are used

STOP_GRACE_S = 15.0


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait for `pid` to exit; True when it is gone (or was never there)."""
    try:
        proc = psutil.Process(pid)
        proc.wait(timeout_s)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def terminate_pid(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM `pid`, SIGKILL it if it outlives `grace_s`, and wait until it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_gone(pid, grace_s):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_gone(pid, 5.0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_named(pid: int, name: str) -> bool:
    """`pid` is alive and runs `name` (a recycled pid running something else does not count)."""
    try:
        proc = psutil.Process(pid)
        return proc.is_running() and name in proc.name() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def read_pid(path: Path) -> int | None:
    """The pid in a pid file; None when the file is missing or holds no number."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
