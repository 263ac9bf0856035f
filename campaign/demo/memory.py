"""How much memory the whole demo stack uses: resident set size summed over every process.

Each named root (the demo itself, each child, each embedded server) is counted with all its
descendants (PostgreSQL's backends are children of the postmaster). RSS counts shared pages once
per process, so the sum overstates what the machine really spends (PostgreSQL's shared buffers
most of all); it is the number `ps` users expect, and an upper bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]  # no stubs; only process queries are used


def tree_rss(roots: Mapping[str, int]) -> tuple[dict[str, int], int]:
    """(bytes per root name, process count) for the roots and all their descendants; a process
    reachable from two roots is counted under the first."""
    seen: set[int] = set()
    by_role: dict[str, int] = {}
    for role, pid in roots.items():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        total = 0
        for proc in procs:
            if proc.pid in seen:
                continue
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
            seen.add(proc.pid)
        by_role[role] = total
    return by_role, len(seen)


@dataclass
class MemoryPeak:
    """The largest total seen across samples, with its breakdown at that moment."""

    total_bytes: int = 0
    processes: int = 0
    by_role: dict[str, int] = field(default_factory=dict)

    def sample(self, roots: Mapping[str, int]) -> None:
        """Measure now; keep it if it is the largest total so far."""
        by_role, count = tree_rss(roots)
        total = sum(by_role.values())
        if total > self.total_bytes:
            self.total_bytes, self.processes, self.by_role = total, count, by_role
