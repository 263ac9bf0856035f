"""A thread pool Celery can autoscale; `campaign worker --autoscale MAX,MIN` selects it.

Celery's `threads` pool has no `grow`/`shrink`, so its autoscaler stops the worker at the first
scale-up ("Unrecoverable error: AttributeError: 'TaskPool' object has no attribute 'grow'",
celery/celery#5333; the same code in Celery 5.7). Prefork can autoscale, but dial tasks are
I/O-bound and were measured fastest on threads (docs/architecture.md, field notes), and prefork
children each keep their own Prometheus counters, which the worker's /metrics would not show. So
this pool keeps threads and adds the two methods the autoscaler calls.

Semantics match Celery's pools: `num_processes` is the current size; `grow(n)` starts n threads;
`shrink(n)` retires n idle threads (each finishes the job it holds first) or raises ValueError
when fewer are idle, which the autoscaler reads as "not now". Warm shutdown (`stop`) lets running
tasks finish and drops the ones not started; with `acks_late` their messages were never acked,
so the broker delivers them again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from celery.concurrency.base import BasePool, apply_target

log = logging.getLogger(__name__)


class _Job(NamedTuple):
    target: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    callback: Callable[..., Any] | None
    accept_callback: Callable[..., Any] | None


class ScalingThreadPool(BasePool):  # type: ignore[misc]  # celery is untyped
    """Threads that Celery's autoscaler (or `celery control pool_grow/shrink`) can resize."""

    signal_safe = False
    body_can_be_buffer = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._size = 0
        self._busy = 0

    def on_start(self) -> None:
        self.grow(self.limit or 0)

    def on_apply(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        **_: Any,
    ) -> None:
        self._jobs.put(_Job(target, tuple(args or ()), kwargs or {}, callback, accept_callback))

    def grow(self, n: int = 1) -> None:
        """Start `n` more threads."""
        with self._lock:
            for _ in range(n):
                thread = threading.Thread(target=self._serve, name="dial-pool", daemon=True)
                self._threads.add(thread)
                thread.start()
            self._size += n

    def shrink(self, n: int = 1) -> None:
        """Retire `n` idle threads; ValueError (nothing retired) when fewer are idle."""
        with self._lock:
            idle = self._size - self._busy
            if n > idle:
                raise ValueError(f"cannot shrink by {n}: {idle} of {self._size} threads idle")
            self._size -= n
        for _ in range(n):
            self._jobs.put(None)

    def on_stop(self) -> None:
        """Warm shutdown: drop the jobs not started, let the running ones finish."""
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            threads = list(self._threads)
            self._size = 0
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()

    @property
    def num_processes(self) -> int:
        return self._size

    def _get_info(self) -> dict[str, Any]:
        info: dict[str, Any] = super()._get_info()
        with self._lock:
            info.update(
                {"max-concurrency": self._size, "threads": len(self._threads), "busy": self._busy}
            )
        return info

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            with self._lock:
                self._busy += 1
            try:
                apply_target(*job)
            except Exception:  # Celery's tracer reports task errors; this is a bug in a callback
                log.exception("worker pool: a job raised outside its task")
            finally:
                with self._lock:
                    self._busy -= 1
        with self._lock:
            self._threads.discard(threading.current_thread())
