"""How dispatcher ticks are driven: `campaign dispatcher` runs this loop; replicas need no leader.

Each pass: claim due contacts (every `tick_interval_s`; idle, up to `max_idle_s` apart), and every
`sweep_interval_s` sweep and start due recurring runs. A failing pass (database restarting, say)
is logged and retried on the next one, never fatal. SIGTERM sets `stop`: the pass in hand
finishes, then the loop ends.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from campaign import metrics
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.domain.pacing import tick_wait
from campaign.heartbeat import beat
from campaign.runtime import Runtime
from campaign.services.capacity import export_gauges
from schedules.dispatcher import tick
from schedules.recurrence import start_due_runs
from schedules.sweeper import sweep

log = logging.getLogger(__name__)


def run(
    runtime: Runtime,
    stop: threading.Event,
    *,
    tick_interval_s: float = 0.2,
    sweep_interval_s: float = 2.0,
    max_idle_s: float = 1.0,
) -> None:
    """Tick until `stop` is set; idle ticks back off up to `max_idle_s` (`tick_wait`)."""
    rng = random.Random()
    last_sweep = 0.0
    wait_s = tick_interval_s
    while not stop.is_set():
        started = time.monotonic()
        try:
            with metrics.TICK_SECONDS.time():
                ticked = tick(runtime, utcnow())
            wait_s = tick_wait(wait_s, ticked.idle, tick_interval_s, max_idle_s)
            if started - last_sweep >= sweep_interval_s:
                last_sweep = started
                sweep(runtime, utcnow(), rng)
                export_gauges(runtime)
                with transaction(runtime.sessions) as session:
                    for note in start_due_runs(session, utcnow()):
                        log.info("recurrence: %s", note)
            beat(runtime.redis, runtime.settings.queue_prefix, "dispatcher")
        except Exception:
            log.exception("dispatcher pass failed; retrying on the next tick")
            wait_s = tick_interval_s
        # An idle wait never delays the sweep past its own interval.
        next_sweep = max(last_sweep + sweep_interval_s, started + tick_interval_s)
        until = min(started + wait_s, next_sweep)
        stop.wait(max(0.0, until - time.monotonic()))
