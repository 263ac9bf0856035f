"""The Redis limiter against a real Redis: rate, caps and leases across many concurrent callers."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from campaign.errors import PacingExhausted
from campaign.limits import Limiter, LiveCap, RateLimit
from campaign.runtime import DIAL_TASK, Runtime


@pytest.fixture
def limiter(redis_client: redis.Redis) -> Limiter:
    limiter = Limiter(redis_client, f"lim{secrets.token_hex(4)}")
    limiter.restore([], [], 0)  # a fresh deployment: the first sweep marks the limiter ready
    return limiter


def _later(seconds: float = 60) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_rate_limit_spaces_tokens_across_threads(limiter: Limiter) -> None:
    rate = RateLimit(limiter.rate_key("campaign", 1), cps=50)
    granted: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + 1.5

    def take(n: int) -> None:
        i = 0
        while time.monotonic() < stop:
            try:
                wait = limiter.acquire(f"{n}-{i}", [rate], [], _later(), max_wait_s=0.2)
            except PacingExhausted as exc:
                time.sleep(exc.retry_after_s)
                continue
            time.sleep(wait)
            with lock:
                granted.append(time.monotonic())
            i += 1

    threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted.sort()
    # Any 1-second window holds at most `cps` grants (strict spacing, burst 1).
    worst = max(sum(1 for g in granted if s <= g < s + 1.0) for s in granted)
    assert worst <= 50
    assert len(granted) >= 60  # 1.5 s at ~49/s, less start-up


def test_live_cap_refuses_beyond_cap_and_frees_on_release(limiter: Limiter) -> None:
    cap = LiveCap(limiter.live_key("campaign", 7), cap=2)
    limiter.acquire("a", [], [cap], _later())
    limiter.acquire("b", [], [cap], _later())
    with pytest.raises(PacingExhausted, match="live-call cap"):
        limiter.acquire("c", [], [cap], _later())
    limiter.release("a", [cap])
    limiter.acquire("c", [], [cap], _later())
    assert limiter.live_count(cap.key) == 2


def test_reacquiring_a_held_lease_takes_no_second_slot(limiter: Limiter) -> None:
    cap = LiveCap(limiter.live_key("campaign", 8), cap=1)
    limiter.acquire("a", [], [cap], _later())
    limiter.acquire("a", [], [cap], _later())
    assert limiter.live_count(cap.key) == 1


def test_expired_lease_frees_its_slot(limiter: Limiter) -> None:
    cap = LiveCap(limiter.live_key("campaign", 9), cap=1)
    limiter.acquire("a", [], [cap], _later(0.05))
    time.sleep(0.1)
    limiter.acquire("b", [], [cap], _later())
    assert limiter.live_count(cap.key) == 1


def test_full_cap_does_not_burn_a_rate_slot(limiter: Limiter) -> None:
    rate = RateLimit(limiter.rate_key("campaign", 10), cps=1)
    cap = LiveCap(limiter.live_key("campaign", 10), cap=1)
    limiter.acquire("held", [], [cap], _later())
    with pytest.raises(PacingExhausted, match="live-call cap"):
        limiter.acquire("x", [rate], [cap], _later(), max_wait_s=0)
    limiter.release("held", [cap])
    assert limiter.acquire("x", [rate], [cap], _later(), max_wait_s=0) == 0  # slot still free


def test_slots_beyond_max_wait_are_refused_with_retry_after(limiter: Limiter) -> None:
    rate = RateLimit(limiter.rate_key("campaign", 12), cps=10)
    assert limiter.acquire("a", [rate], [], _later(), max_wait_s=0.15) == 0
    second = limiter.acquire("b", [rate], [], _later(), max_wait_s=0.15)
    assert 0.09 < second < 0.11  # reserved one period (~0.1015 s) ahead
    with pytest.raises(PacingExhausted) as refused:
        limiter.acquire("c", [rate], [], _later(), max_wait_s=0.15)
    assert 0 < refused.value.retry_after_s <= 0.06


def test_slots_beyond_max_wait_go_out_as_tickets_each_its_own(limiter: Limiter) -> None:
    rate = RateLimit(limiter.rate_key("campaign", 13), cps=10)
    cap = LiveCap(limiter.live_key("campaign", 13), cap=5)
    assert limiter.acquire("a", [rate], [cap], _later(), max_wait_s=0, ticket_s=0.25) == 0
    tickets = []
    for member in ("b", "c"):
        with pytest.raises(PacingExhausted) as waiting:
            limiter.acquire(member, [rate], [cap], _later(), max_wait_s=0, ticket_s=0.25)
        tickets.append(waiting.value)
    b, c = (t.ticket_at_ms for t in tickets)
    assert b is not None
    assert c is not None
    assert c - b == pytest.approx(rate.period_ms, abs=1)  # each its own slot, not the next one
    assert 0.05 < tickets[1].retry_after_s - tickets[0].retry_after_s < 0.15
    assert limiter.live_count(cap.key) == 1  # a ticket takes no lease
    with pytest.raises(PacingExhausted) as far:  # beyond the ticket bound: come back nearer
        limiter.acquire("d", [rate], [cap], _later(), max_wait_s=0, ticket_s=0.25)
    assert far.value.ticket_at_ms is None
    assert 0 < far.value.retry_after_s <= 0.11

    time.sleep(tickets[0].retry_after_s)
    held = limiter.acquire(
        "b", [rate], [cap], _later(), max_wait_s=0, ticket_s=0.25, ticket_at_ms=b
    )
    assert held < 0.02  # its slot, now: no second slot taken, its lease taken
    assert limiter.live_count(cap.key) == 2
    with pytest.raises(PacingExhausted) as after:  # "d" still comes after "c"'s ticket
        limiter.acquire("d", [rate], [cap], _later(), max_wait_s=0, ticket_s=0.25)
    assert after.value.ticket_at_ms == pytest.approx(c + rate.period_ms, abs=1)


def test_nothing_is_granted_after_redis_lost_its_data_until_restored(
    redis_client: redis.Redis,
) -> None:
    prefix = f"wipe{secrets.token_hex(4)}"
    limiter = Limiter(redis_client, prefix)
    limiter.restore([], [], 0)
    cap = LiveCap(limiter.live_key("campaign", 11), cap=2)
    rate = RateLimit(limiter.rate_key("campaign", 11), cps=10)
    limiter.acquire("a", [rate], [cap], _later())
    for key in redis_client.scan_iter(f"{prefix}:*"):
        redis_client.delete(key)  # Redis wiped
    assert not limiter.ready()
    with pytest.raises(PacingExhausted, match="rebuilt"):
        limiter.acquire("c", [rate], [cap], _later())

    restored = limiter.restore(
        [(cap.key, "a", _later()), (cap.key, "b", _later())], [rate.key], hold_s=0.3
    )

    assert restored == 2
    with pytest.raises(PacingExhausted, match="live-call cap"):
        limiter.acquire("c", [rate], [cap], _later())
    limiter.release("b", [cap])
    assert limiter.acquire("c", [rate], [cap], _later()) >= 0.25  # past any pre-wipe slot


def test_send_log_holds_back_a_send_that_would_bunch_with_late_ones(limiter: Limiter) -> None:
    rate = RateLimit(limiter.rate_key("campaign", 13), cps=5)
    sent: list[float] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        while (wait := limiter.confirm_send(f"m{n}", [rate])) > 0:
            time.sleep(wait)
        with lock:
            sent.append(time.monotonic())

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent.sort()
    # Judged with the slack: no 1.025 s window holds more than cps sends.
    worst = max(sum(1 for s in sent if a <= s < a + 1.0) for a in sent)
    assert worst <= 5
    assert len(sent) == 12


def test_a_dial_sent_after_redis_lost_everything_still_reaches_its_queue(
    sending_runtime: Runtime, redis_client: redis.Redis
) -> None:
    # Kombu keeps exchange bindings in Redis; after a wipe they are gone, and a send must still
    # land in the queue's list (kombu falls back to the routing key), or queued dials would vanish.
    rt = sending_runtime
    rt.enqueue_dials([1])
    for key in redis_client.scan_iter(f"*{rt.settings.queue_prefix}*"):
        redis_client.delete(key)  # the list and this prefix's bindings: all gone
    rt.enqueue_dials([2])
    assert redis_client.llen(rt.settings.queue("dial")) == 1


def test_enqueued_dials_are_the_messages_send_task_writes(
    sending_runtime: Runtime, redis_client: redis.Redis
) -> None:
    # The dispatcher builds its messages with Celery's message API and publishes a claim's worth
    # in one batch; the workers must get exactly what `send_task` would have sent.
    rt = sending_runtime
    queue = rt.settings.queue("dial")

    def same_but_ids(message: dict[str, Any]) -> str:
        text = json.dumps(message, sort_keys=True)
        task_id, tag = message["headers"]["id"], message["properties"]["delivery_tag"]
        return text.replace(task_id, "ID").replace(tag, "TAG")

    with rt.celery.producer_or_acquire() as producer:
        rt.celery.send_task(DIAL_TASK, args=[7], queue=queue, producer=producer)
    rt.enqueue_dials([7, 8])
    oldest_first = [json.loads(m) for m in reversed(redis_client.lrange(queue, 0, -1))]
    reference, seven, eight = oldest_first
    assert same_but_ids(seven) == same_but_ids(reference)
    assert seven["headers"]["id"] != reference["headers"]["id"] != eight["headers"]["id"]
    assert json.loads(base64.b64decode(eight["body"]))[0] == [8]
