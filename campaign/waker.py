"""Wake-ups requested on the hot path, sent from a thread of their own, several at a time.

The receiver asks for a consumer of a share of the inbox for every notification it stores; at
hundreds per second, one Redis command each was a seventh of the API's CPU, and doing it on the
event loop would block it. `request` only notes the share; the waker thread sends what was noted
(one pipelined command for all of them), then rests `interval_s` so that a burst coalesces.

No row is left behind: a share noted after its row committed is sent by a batch that starts
after the note, so the wake key is tested after the commit, as `Runtime.wake_consumer` requires.
The delay this adds is at most `interval_s` plus one batch. A process that dies with shares noted
and not sent leaves their rows to the sweeper, as a crash right after the commit always did.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Set

logger = logging.getLogger(__name__)


class Waker:
    """Calls `send(shards)` on its own daemon thread for the shards `request`ed meanwhile."""

    def __init__(self, send: Callable[[Set[int]], None], *, interval_s: float) -> None:
        self._send = send
        self._interval_s = interval_s
        self._pending: set[int] = set()
        self._lock = threading.Lock()
        self._noted = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self, shard: int) -> None:
        """Note `shard` for the next batch (cheap: no I/O on the caller's thread)."""
        with self._lock:
            self._pending.add(shard)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="waker", daemon=True)
                self._thread.start()
        self._noted.set()

    def _run(self) -> None:
        while not self._closed.is_set():
            self._noted.wait()
            self._noted.clear()
            self._send_pending()
            self._closed.wait(self._interval_s)

    def _send_pending(self) -> None:
        with self._lock:
            shards, self._pending = self._pending, set()
        if not shards:
            return
        try:
            self._send(shards)
        except Exception:  # the rows are durable: the sweeper applies what no consumer took
            logger.warning("notifications stored; no consumer woken", exc_info=True)

    def close(self) -> None:
        """Send what is noted, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._closed.set()
            self._noted.set()
            thread.join(5)
        self._send_pending()
