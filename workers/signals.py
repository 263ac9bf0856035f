"""Worker process hooks: logging, /metrics on METRICS_PORT, the heartbeat `campaign health
worker` reads, and the inbox's drain threads (`workers.drainers`) in a worker of the notify queue.

All start at `worker_ready`, so a worker counts as alive only once it consumes. The heartbeat
goes on through warm shutdown (a draining worker is not dead, and must not be killed by its
liveness probe) and stops at `worker_shutdown`, once the pool has stopped; /metrics answers until
the process exits, so a last scrape still sees the drained tasks' counters. The heartbeat key is
not deleted: another worker on the same host shares it. A Redis hiccup skips a beat; missing
them for heartbeat.TTL_S makes the probe fail. The drain threads, too, go on through warm
shutdown (finals keep arriving for the calls the draining dial tasks placed) and stop at
`worker_shutdown`, each after the drain it is in.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import setup_logging, worker_init, worker_ready, worker_shutdown

from campaign import log
from campaign.heartbeat import TTL_S, beat
from campaign.metrics import serve_metrics
from workers import drainers
from workers.notifications import drain
from workers.runtime import pool_size_for, runtime

logger = logging.getLogger(__name__)

BEAT_INTERVAL_S = TTL_S / 3
_stop = threading.Event()
_drainers: list[drainers.Drainers] = []


def _beat_until_stopped() -> None:
    rt = runtime()
    while True:
        try:
            beat(rt.redis, rt.settings.queue_prefix, "worker")
        except Exception as exc:  # Redis down: the probe will say so; keep trying
            logger.warning("worker heartbeat not written: %s", exc)
        if _stop.wait(BEAT_INTERVAL_S):
            return


@worker_init.connect
def size_database_pool(sender: Any, **_: Any) -> None:
    """One database connection per thread that can dial at once (`--concurrency`, or the
    `--autoscale` maximum) or drain, so no thread waits for a connection and none sits idle."""
    autoscale = getattr(sender, "autoscale", None)
    threads = int((max(autoscale) if autoscale else sender.concurrency) or 1)
    runtime().pool_size = pool_size_for(threads + (drainers.THREADS if _drains(sender) else 0))


def _drains(sender: Any) -> bool:
    """Whether this worker consumes the notify queue, and so drains the inbox (`-Q` may leave
    that to other workers: the queue names where an operator sends the notification work)."""
    return runtime().settings.queue("notify") in sender.app.amqp.queues.consume_from


@setup_logging.connect
def configure_logging(**_: Any) -> None:
    """Our log format (LOG_FORMAT, with the task's ids on every line) instead of Celery's."""
    log.configure(runtime().settings.log_format)


@worker_ready.connect
def start_probes(**_: Any) -> None:
    """Serve /metrics and start beating once the worker consumes."""
    serve_metrics(runtime().settings)
    _stop.clear()
    threading.Thread(target=_beat_until_stopped, name="heartbeat", daemon=True).start()


@worker_ready.connect
def start_drainers(sender: Any, **_: Any) -> None:
    """Drain the inbox on threads of this process when it consumes the notify queue."""
    if not _drains(sender):
        return
    pool = drainers.Drainers(runtime().next_drain, drain)
    pool.start()
    _drainers.append(pool)


@worker_shutdown.connect
def stop_heartbeat(**_: Any) -> None:
    """Stop beating and draining: the worker has finished its tasks and is exiting."""
    _stop.set()
    while _drainers:
        _drainers.pop().stop()
