"""The naive baseline: a Celery task per contact, Celery's own `rate_limit`, retries as countdowns.

This is how outbound dialing is usually first written with Celery, kept deliberately plain so the
comparison is with the obvious design, not a straw man: the dial goes through the engine's own
gateway client (JWT, in-place retries of what provably placed nothing), the task carries Celery's
`rate_limit` at the configured calls/s, and any gateway error is retried with a `countdown`, as
`autoretry_for=(Exception,)` would. What it lacks is what the engine adds: a limit shared by all
workers (Celery's `rate_limit` is per worker instance) and the rule never to re-send a dial whose
outcome is unknown.

Run as its own worker: `celery -A bench.naive worker --pool threads -Q <prefix>.naive`, with the
stack's environment plus `NAIVE_RATE_LIMIT` (e.g. `50/s`). Importing this module configures
nothing: the app reads the environment only when the worker first needs its configuration.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery, Task

from campaign.errors import GatewayError
from campaign.gateway.client import DialRequest, SavgClient, tel_uri
from campaign.settings import Settings, get_settings

TASK = "naive.dial"
MAX_RETRIES = 5
RETRY_COUNTDOWN_S = 1.0
RATE_LIMIT_ENV = "NAIVE_RATE_LIMIT"


def queue_name(settings: Settings) -> str:
    """The baseline's own queue, beside (never shared with) the engine's."""
    return settings.queue("naive")


def _config() -> dict[str, Any]:
    settings = get_settings()
    return {
        "broker_url": settings.redis_url,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": queue_name(settings),
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }


app = Celery("naive", set_as_current=False)
app.add_defaults(_config)
_local = threading.local()


def _client() -> SavgClient:
    client: SavgClient | None = getattr(_local, "client", None)
    if client is None:
        client = _local.client = SavgClient.from_settings(get_settings())
    return client


@app.task(  # type: ignore[untyped-decorator]
    name=TASK, bind=True, max_retries=MAX_RETRIES, rate_limit=os.environ.get(RATE_LIMIT_ENV)
)
def dial(self: Task, phone: str, fields: dict[str, str]) -> str:
    """POST one dial-out for `phone`; on any gateway error, try again after a countdown."""
    request = DialRequest(
        bot=fields["bot"],
        target=tel_uri(phone),
        caller=fields["caller"],
        notifyurl=fields["notifyurl"],
    )
    try:
        return _client().dial(request).sid
    except GatewayError as exc:
        raise self.retry(exc=exc, countdown=RETRY_COUNTDOWN_S + random.random()) from exc


def purge(client: redis.Redis, settings: Settings) -> None:
    """Drop every message left in the baseline's queue (with kombu's per-priority lists).
    Run it once the baseline's workers are stopped."""
    keys = list(client.scan_iter(match=f"{queue_name(settings)}*"))
    if keys:
        client.delete(*keys)


def enqueue(settings: Settings, phones: Sequence[str], fields: dict[str, str]) -> None:
    """Send one baseline task per contact, as the naive design does up front."""
    sender = Celery("naive-sender", broker=settings.redis_url, set_as_current=False)
    try:
        with sender.producer_or_acquire() as producer:
            for phone in phones:
                sender.send_task(
                    TASK, args=[phone, fields], queue=queue_name(settings), producer=producer
                )
    finally:
        sender.close()
