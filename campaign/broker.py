"""Kombu's Redis transport, with one redis-py client per channel instead of one per operation.

Kombu's Redis channel builds a new `redis.Redis` for every operation that is not a consume: each
publish batch, and, with `acks_late`, each delivered message's unacked bookkeeping and each ack
(`Channel.conn_or_acquire` → `_create_client`). Building one copies redis-py's table of ~160
response callbacks, about 0.15 ms of CPU, more than the pipeline it then sends: a quarter of a
publish (the receiver's consumer wake-ups, the dispatcher's dials) and a share of every task a
worker runs. The clients all share the channel's connection pool, and a redis-py client is safe
to share between threads (each command or pipeline takes a connection of its own from the pool),
so one client per pool does the same work. A channel that replaces its pool (after a connection
error) gets a new client with it.

Used for `redis://` brokers (`transport_for`); other URLs keep Kombu's own transport.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

TRANSPORT = "campaign.broker:Transport"


class Channel(kombu_redis.Channel):  # kombu is untyped: its classes are Any to mypy
    """A Redis channel that builds its synchronous client once per connection pool."""

    _shared: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's client: Kombu keeps that one already (`client`)
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        shared = self._shared
        if shared is None or shared.connection_pool is not self.pool:
            shared = self._shared = super()._create_client()  # type: ignore[no-untyped-call]
        return shared


class Transport(kombu_redis.Transport):
    """Kombu's Redis transport on `Channel`."""

    Channel = Channel


def transport_for(broker_url: str | None) -> str | None:
    """The Celery `broker_transport` for `broker_url`: ours for `redis://`, else None (Kombu
    picks by scheme, e.g. a `rediss://` URL keeps Kombu's own TLS checks)."""
    if broker_url is not None and broker_url.startswith("redis://"):
        return TRANSPORT
    return None
