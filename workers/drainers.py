"""Inbox drains outside Celery's pool: threads of the worker process, woken through Redis.

A drain used to be a Celery task on the notify queue, so under load it waited for a pool thread
behind dial tasks (their pacing sleeps and POSTs) and its decision with it, and it cost a task's
broker bookkeeping. The receiver's wake-up now pushes the share onto a Redis list
(`Runtime.drains_key`), and `THREADS` threads of every worker that consumes the notify queue pop
it and drain that share (`workers.notifications.drain`, the task's body): a decision waits for a
drain thread, never for a dial.

If the process dies mid-drain, its transaction rolls back and the share's wake key expires
within `WAKE_TTL_MS`, after which the next row stored wakes a drain again; rows already waiting
are applied by that drain or by the sweeper (`sweep_inbox_stale_s`), as with a lost task before.
A share popped by a thread that then stops is drained first: `stop` waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from campaign.services.notifications import MAX_DRAIN_S

logger = logging.getLogger(__name__)

THREADS = 4
"""Drain threads per worker process: a drain mostly waits on PostgreSQL, so a few keep one core
busy; more would only queue on the process's GIL."""
POP_TIMEOUT_S = 1.0
"""How long a pop waits before the thread checks whether it should stop."""
RETRY_S = 1.0
"""The pause after a failed pop or drain (Redis or PostgreSQL away): the sweeper meanwhile
applies whatever waits."""


class Drainers:
    """`threads` daemon threads that each drain (`drain(shard)`) the shares `next_drain` pops."""

    def __init__(
        self,
        next_drain: Callable[[float], int | None],
        drain: Callable[[int], object],
        *,
        threads: int = THREADS,
    ) -> None:
        self._next = next_drain
        self._drain = drain
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"drain-{i}", daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop popping and wait for the drains under way (each ends within `MAX_DRAIN_S`)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(POP_TIMEOUT_S + MAX_DRAIN_S + RETRY_S)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                shard = self._next(POP_TIMEOUT_S)
                if shard is not None:
                    self._drain(shard)
            except Exception:  # the rows are durable: the next wake-up or the sweeper applies them
                logger.warning("inbox drain failed; retrying", exc_info=True)
                self._stopping.wait(RETRY_S)
