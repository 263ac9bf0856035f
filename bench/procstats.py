"""Resident memory and CPU time of the stack's processes, sampled while a benchmark runs.

CPU seconds per process over a run are the cheapest honest profile of a 2-core machine: they say
which process the time goes to (workers, API, dispatchers, simulator, PostgreSQL backends of the
bench database, Redis) and so what a second machine could take over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]

MIB = 2**20


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB (0 if it is gone)."""
    total = 0
    for proc in _tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / MIB


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds the processes have used so far."""
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def postgres_backends(database: str) -> list[psutil.Process]:
    """The PostgreSQL backends serving `database` (their title names it)."""
    out = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if cmd.startswith("postgres:") and f" {database} " in cmd:
            out.append(proc)
    return out


def redis_servers() -> list[psutil.Process]:
    """Every redis-server on the host (shared: its CPU includes other users' load)."""
    return [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("redis")]


@dataclass
class CpuProfile:
    """CPU seconds per group between `start()` and `stop()`."""

    groups: Mapping[str, Callable[[], list[psutil.Process]]]
    used: dict[str, float] = field(default_factory=dict)
    _start: dict[str, dict[int, float]] = field(default_factory=dict)

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {
            name: {p.pid: cpu_seconds([p]) for p in find()} for name, find in self.groups.items()
        }

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> None:
        """Record CPU used by each group since start (processes born since count from zero)."""
        end = self._snapshot()
        for name, pids in end.items():
            before = self._start.get(name, {})
            self.used[name] = sum(max(0.0, s - before.get(pid, 0.0)) for pid, s in pids.items())


class RssSampler:
    """Peak resident memory per named pid, sampled on a background thread."""

    def __init__(self, pids: Mapping[str, int], interval_s: float = 0.25) -> None:
        self._pids = dict(pids)
        self._interval_s = interval_s
        self.peak: dict[str, float] = dict.fromkeys(self._pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self._pids.items():
                self.peak[name] = max(self.peak[name], rss_mib(pid))
            self._stop.wait(self._interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
