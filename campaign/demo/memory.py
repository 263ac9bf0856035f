"""How much memory the whole demo stack uses, summed over every process of it.

Each named root (each child, each embedded server, the demo itself) is counted with all its
descendants (PostgreSQL's backends are children of the postmaster); a process reachable from two
roots counts under the first, so the demo's own root goes last and keeps only itself.

Two sums: RSS, the number `ps` shows, counts a shared page once per process that maps it, so it
overstates what the machine spends (PostgreSQL's shared buffers most of all); PSS splits each
shared page between its users and adds up to the real footprint. PSS reads every process's
smaps (milliseconds each), so it is sampled less often.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]  # no stubs; only process queries are used


def _trees(roots: Mapping[str, int]) -> dict[str, list[psutil.Process]]:
    """Each root's processes (itself first), every process under one root only."""
    seen: set[int] = set()
    out: dict[str, list[psutil.Process]] = {}
    for role, pid in roots.items():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        out[role] = [p for p in procs if p.pid not in seen]
        seen.update(p.pid for p in procs)
    return out


def _rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


def _pss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_full_info().pss)
    except (psutil.Error, AttributeError):  # AttributeError: no PSS outside Linux
        return 0


def tree_rss(roots: Mapping[str, int]) -> tuple[dict[str, int], int]:
    """(RSS bytes per root name, process count) for the roots and all their descendants."""
    trees = _trees(roots)
    by_role = {role: sum(_rss(p) for p in procs) for role, procs in trees.items()}
    return by_role, sum(len(procs) for procs in trees.values())


def tree_pss(roots: Mapping[str, int]) -> int:
    """PSS bytes of the roots and all their descendants together."""
    return sum(_pss(p) for procs in _trees(roots).values() for p in procs)


@dataclass
class MemoryPeak:
    """The largest RSS total seen across samples (with its breakdown), and the largest PSS."""

    total_bytes: int = 0
    processes: int = 0
    by_role: dict[str, int] = field(default_factory=dict)
    pss_bytes: int = 0
    pss_every_s: float = 5.0
    _pss_at: float = field(default=-math.inf, repr=False)

    def sample(self, roots: Mapping[str, int], *, force_pss: bool = False) -> None:
        """Measure RSS now, and PSS if `pss_every_s` has passed since the last time (or forced);
        keep each if it is the largest so far."""
        by_role, count = tree_rss(roots)
        total = sum(by_role.values())
        if total > self.total_bytes:
            self.total_bytes, self.processes, self.by_role = total, count, by_role
        if force_pss or time.monotonic() - self._pss_at >= self.pss_every_s:
            self._pss_at = time.monotonic()
            self.pss_bytes = max(self.pss_bytes, tree_pss(roots))
