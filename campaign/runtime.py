"""Per-process resources built once from Settings: database sessions, Redis, limiter, Celery sender.

Every process (api, worker, dispatcher) builds one `Runtime` at its entry point and passes it on;
nothing here is created at import time.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import cast

import redis
from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu.utils.uuid import uuid
from redis import Redis
from redis.commands.core import Script
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from campaign.breaker import Breaker, GatewayBreaker, gateway_id
from campaign.broker import transport_for
from campaign.db.async_pool import AsyncConnections
from campaign.db.engine import make_engine, make_session_factory
from campaign.limits import Limiter
from campaign.receipts import Receipts
from campaign.services import event_outbox
from campaign.services.leases import Leases
from campaign.services.notifications import shard_of
from campaign.settings import Settings
from campaign.waker import Waker

DIAL_TASK = "campaign.dial"
DRAIN_TASK = "campaign.drain_inbox"
EVENTS_TASK = "campaign.deliver_events"
WAKE_TTL_MS = 5000
INTAKE_APPLICATION_NAME = "campaign-receiver"
WAKE_BATCH_S = 0.005
"""The waker's rest between batches: at most this much added to a notification's decision, and
at most one Redis round trip per this much however many notifications arrive."""
_WAKE_SHARES = """
for i = 2, #KEYS do
    if redis.call('set', KEYS[i], 1, 'NX', 'PX', ARGV[1]) then
        redis.call('rpush', KEYS[1], ARGV[i])
    end
end
"""
"""KEYS: the drains list, then each share's wake key; ARGV: the keys' expiry (ms), then each
share. A share goes on the list only when this call took its key."""


def make_celery(settings: Settings) -> Celery:
    """The Celery app every process shares: settings for short, idempotent, I/O-bound tasks.

    acks_late + reject_on_worker_lost: a task whose worker died is delivered again (the dial claim
    makes that safe); prefetch 1: a slow dial never strands queued work behind it; JSON only;
    a visibility timeout far above any countdown we use, since long waits live in PostgreSQL;
    Kombu's Redis transport with one redis-py client per channel (`campaign.broker`).
    """
    app = Celery("campaign", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        broker_transport_options={"visibility_timeout": 3600},
        broker_connection_retry_on_startup=True,
        broker_transport=transport_for(settings.redis_url),
        task_routes={
            DIAL_TASK: {"queue": settings.queue("dial")},
            DRAIN_TASK: {"queue": settings.queue("notify")},
            EVENTS_TASK: {"queue": settings.queue("events")},
        },
        task_default_queue=settings.queue("dial"),
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def make_breaker(client: redis.Redis, settings: Settings) -> GatewayBreaker:
    """The gateway breakers under the settings' thresholds. A probe holds its turn for as long as
    its POST can take (connect + read timeouts and the client's in-place retries)."""
    probe_ttl_s = settings.savg_connect_timeout_s + settings.savg_read_timeout_s + 10.0
    return GatewayBreaker(
        client,
        settings.queue_prefix,
        threshold=settings.gateway_breaker_failures,
        cooldown_s=settings.gateway_breaker_cooldown_s,
        max_cooldown_s=settings.gateway_breaker_max_cooldown_s,
        probe_ttl_s=probe_ttl_s,
    )


@dataclass
class Runtime:
    """Lazily built process resources (an API process never opens a gateway client, say)."""

    settings: Settings
    pool_size: int = 10
    _celery: Celery | None = field(default=None, repr=False)
    _declared: set[str] = field(default_factory=set, init=False, repr=False)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings, pool_size=self.pool_size)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine, info=event_outbox.session_info(self.settings))

    @cached_property
    def redis(self) -> redis.Redis:
        if self.settings.redis_url is None:
            raise RuntimeError("REDIS_URL is not set")
        return redis.Redis.from_url(self.settings.redis_url, health_check_interval=30)

    @cached_property
    def limiter(self) -> Limiter:
        return Limiter(self.redis, self.settings.queue_prefix)

    @cached_property
    def leases(self) -> Leases:
        return Leases(self.limiter, self.settings)

    @cached_property
    def receipts(self) -> Receipts:
        return Receipts(self.redis, self.settings.queue_prefix)

    @cached_property
    def breaker(self) -> GatewayBreaker:
        return make_breaker(self.redis, self.settings)

    def read_breaker(self, trunk: str | None) -> Breaker:
        """The breaker of the gateway a campaign on `trunk` dials (a read, no change)."""
        return self.breaker.read(gateway_id(self.settings.savg_base_url, trunk))

    @property
    def celery(self) -> Celery:
        if self._celery is None:
            self._celery = make_celery(self.settings)
        return self._celery

    def enqueue_dials(self, attempt_ids: Sequence[int]) -> None:
        """Send one dial task per attempt (after the claiming transaction committed), in one
        publish batch (`_publish`). A failed flush raises (delivery uncertain); the attempts stay
        queued in PostgreSQL and the sweeper sends them again, as for any message lost after commit.
        """
        self._publish(DIAL_TASK, "dial", [[attempt_id] for attempt_id in attempt_ids])

    def _publish(self, task: str, queue_name: str, calls: Sequence[list[int]]) -> None:
        """Send `task` once per argument list in `calls` to our queue `queue_name`.

        The hot paths' sends (a claim's dials, the receiver's wake-ups) are built with Celery's own
        message API (`create_task_message` + `send_task_message`, what `send_task` calls) without
        the per-call routing and option merging of `send_task`, and published in one producer
        batch: Kombu's Redis transport then sends the LPUSHes in one pipeline round trip. The
        messages are the ones `send_task` writes (a test compares them byte for byte).
        """
        amqp = self.celery.amqp
        queue = amqp.queues[self.settings.queue(queue_name)]
        origin = anon_nodename()
        reply_to = self.celery.thread_oid
        with self.celery.producer_or_acquire() as producer:
            # Kombu before 5.7 has no publish batch: each message then goes out as it is sent.
            batch = getattr(producer, "batch", nullcontext)
            with batch():
                if queue.name not in self._declared:
                    # Kombu copies and binds the queue on every `maybe_declare`, even when its
                    # cache says declared: once per process is what that cache gives anyway.
                    producer.maybe_declare(queue)
                    self._declared.add(queue.name)
                for args in calls:
                    message = amqp.create_task_message(
                        uuid(),
                        task,
                        args,
                        reply_to=reply_to,
                        argsrepr=repr(args),
                        kwargsrepr="{}",
                        origin=origin,
                        ignore_result=None,
                    )
                    amqp.send_task_message(
                        producer, task, message, queue=queue, retry=False, declare=[]
                    )

    def wake_consumer(self, attempt_id: int) -> None:
        """Have a drain take the attempt's share of the inbox (`notifications.DRAIN_SHARDS`),
        unless one was woken and has not started yet.

        The drain clears the wake key before each batch it reads, so a row committed after that
        read finds the key clear and wakes another drain: none is left behind, and a burst of
        notifications costs one wake-up per share, not one each. The key's expiry covers a lost
        wake-up (and the sweeper any row left anyway). Sent from the waker's thread (`waker`:
        the caller never waits on Redis, and a burst costs one round trip per batch).
        """
        self._consumer_waker.request(shard_of(attempt_id))

    @cached_property
    def _consumer_waker(self) -> Waker:
        return Waker(self._wake_consumers, interval_s=WAKE_BATCH_S)

    def _wake_consumers(self, shards: Set[int]) -> None:
        """Set each share's wake key unless set, and push the shares whose key was clear onto
        the drains list (`next_drain`): one script call, so a share is pushed exactly when its
        key was taken, whatever fails between."""
        ordered = sorted(shards)
        keys = [self.drains_key, *(self.wake_key(shard) for shard in ordered)]
        self._wake_shares(keys=keys, args=[WAKE_TTL_MS, *ordered])

    @cached_property
    def _wake_shares(self) -> Script:
        return self.redis.register_script(_WAKE_SHARES)

    @property
    def drains_key(self) -> str:
        """The Redis list of shares woken for a drain, oldest first (`workers.drainers`)."""
        return f"{self.settings.queue_prefix}:inbox:drains"

    def next_drain(self, timeout_s: float) -> int | None:
        """The next share woken for a drain, waiting up to `timeout_s` (None: none was)."""
        popped = cast(
            tuple[bytes, bytes] | None, self.redis.blpop([self.drains_key], timeout=timeout_s)
        )
        return None if popped is None else int(popped[1])

    def wake_key(self, shard: int) -> str:
        return f"{self.settings.queue_prefix}:inbox:wake:{shard}"

    def take_wake(self, shard: int) -> bool:
        """Set the share's wake key unless it is set (`notifications.ShareWake`)."""
        return bool(self._set_wake(self.redis, shard))

    def clear_wake(self, shard: int) -> None:
        """Clear the share's wake key: the next row stored wakes a drain."""
        self.redis.delete(self.wake_key(shard))

    def _set_wake(self, client: Redis, shard: int) -> object:
        """SET NX of the share's wake key on `client` (or a pipeline: it queues the command)."""
        return client.set(self.wake_key(shard), 1, nx=True, px=WAKE_TTL_MS)

    def wake_events(self) -> None:
        """Have one deliverer send the due events, unless one was woken and has not started yet
        (the same pattern as `wake_consumer`; the sweeper calls this while events are due)."""
        self._wake_once(self.events_wake_key, EVENTS_TASK, "events")

    @property
    def events_wake_key(self) -> str:
        return f"{self.settings.queue_prefix}:events:wake"

    def _wake_once(self, key: str, task: str, queue: str, *args: int) -> None:
        # One task while `key` is set: a burst of wake-ups costs one task, and the key's expiry
        # covers a task that was lost.
        if self.redis.set(key, 1, nx=True, px=WAKE_TTL_MS):
            self._publish(task, queue, [list(args)])

    @cached_property
    def intake(self) -> AsyncConnections:
        """The receiver's connections (`services.intake`): autocommit, on the event loop."""
        url = make_url(self.settings.sqlalchemy_url).set(drivername="postgresql")  # libpq's form
        return AsyncConnections(
            url.render_as_string(hide_password=False),
            self.pool_size,
            application_name=INTAKE_APPLICATION_NAME,
        )

    def close(self) -> None:
        """Release pooled connections and send the wake-ups noted (tests and graceful shutdown)."""
        if "_consumer_waker" in self.__dict__:
            self._consumer_waker.close()
        if "intake" in self.__dict__:
            self.intake.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
        if "redis" in self.__dict__:
            self.redis.close()
