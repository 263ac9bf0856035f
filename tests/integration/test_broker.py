"""The broker transport (`campaign.broker`) on real Redis: Celery's app uses it for `redis://`,
a channel shares one client per connection pool, and messages go through it unchanged."""

from __future__ import annotations

import threading

import pytest
import redis
from kombu import Connection

from campaign import broker
from campaign.runtime import DIAL_TASK, Runtime


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("redis://127.0.0.1:6379/3", broker.TRANSPORT),
        ("rediss://cache.example:6380/0", None),  # Kombu's own, with its TLS checks
        ("unix:///run/redis.sock", None),
        (None, None),
    ],
)
def test_the_transport_is_ours_for_redis_urls_only(url: str | None, transport: str | None) -> None:
    assert broker.transport_for(url) == transport


def test_a_channel_shares_one_client_per_pool(sending_runtime: Runtime) -> None:
    app = sending_runtime.celery
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, broker.Transport)
        channel = connection.default_channel
        client = channel._create_client()
        assert channel._create_client() is client
        assert channel._create_client(asynchronous=True) is not client  # Kombu's consumer one
        channel._disconnect_pools()  # as after a connection error: a new pool, a new client
        renewed = channel._create_client()
        assert renewed is not client
        assert renewed.connection_pool is channel.pool


def test_threads_publish_and_ack_through_the_shared_client(
    sending_runtime: Runtime, redis_client: redis.Redis
) -> None:
    # Worker threads ack (acks_late) and the waker publishes while the consumer reads: many
    # threads use the channel's one client at once, each command on a connection of its own.
    rt = sending_runtime
    queue = rt.settings.queue("dial")

    def send(start: int) -> None:
        for n in range(start, start + 50):
            rt.enqueue_dials([n])

    threads = [threading.Thread(target=send, args=(i * 50,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_client.llen(queue) == 200
    with Connection(rt.settings.redis_url, transport=broker.TRANSPORT) as connection:
        simple = connection.SimpleQueue(queue, no_ack=False)
        received = []
        for _ in range(200):
            message = simple.get(timeout=5)
            received.append(message.headers["task"])
            message.ack()
        simple.close()
    assert received == [DIAL_TASK] * 200
    assert redis_client.llen(queue) == 0
