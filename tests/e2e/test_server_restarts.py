"""PostgreSQL and Redis restarted (and Redis wiped) mid-campaign, on servers this module owns.

The machine's servers are shared with other test sessions, so these faults run against real
PostgreSQL and Redis started from the wheels (`campaign.demo.embedded`) in a folder of their own.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from campaign.db.migrate import upgrade
from campaign.demo.embedded import Embedded, start_embedded, start_postgres
from campaign.demo.embedded_redis import start_redis
from campaign.settings import Settings
from tests import factories
from tests.e2e.conftest import Stack, launch
from tests.e2e.test_closed_loop import _start_campaign, _wait_completed
from tests.e2e.test_faults import _assert_each_called_once, _human_only

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def owned() -> Iterator[Embedded]:
    """PostgreSQL and Redis of this module alone (outside pytest's basetemp, which concurrent
    sessions prune)."""
    data_dir = Path(tempfile.mkdtemp(prefix="campaign-restarts-"))
    servers = start_embedded(data_dir)
    try:
        yield servers
    finally:
        servers.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(
    owned: Embedded, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    upgrade(owned.postgres.sqlalchemy_url)
    own = settings.model_copy(
        update={
            "database_url": owned.database_url,
            "redis_url": owned.redis_url,
            "queue_prefix": f"rs{secrets.token_hex(4)}",
        }
    )
    with launch(own, tmp_path_factory.mktemp("restarts")) as s:
        yield s


def test_postgres_restarted_mid_campaign_loses_nothing(owned: Embedded, stack: Stack) -> None:
    _human_only(stack)
    phones = factories.us_numbers(80, start=70000)
    campaign_id = _start_campaign(stack, phones)
    time.sleep(1.5)

    with stack.restarting():
        owned.postgres.stop()  # fast shutdown: every open session is cut
        time.sleep(3)
        owned.postgres = start_postgres(owned.postgres.pgdata)

        _wait_completed(stack, campaign_id, timeout_s=120)
    _assert_each_called_once(stack, campaign_id, phones)


def test_redis_restarted_mid_campaign_loses_nothing_and_breaks_no_limit(
    owned: Embedded, stack: Stack
) -> None:
    _human_only(stack)
    phones = factories.us_numbers(80, start=80000)
    campaign_id = _start_campaign(stack, phones)
    time.sleep(1.5)

    with stack.restarting():
        owned.redis.stop()  # no persistence: queues, leases, buckets and the breaker are gone
        time.sleep(2)
        owned.redis = start_redis(owned.redis.directory)
        assert owned.redis.url == stack.settings.redis_url  # same port: clients reconnect

        _wait_completed(stack, campaign_id, timeout_s=120)
    _assert_each_called_once(stack, campaign_id, phones)


def test_wiped_redis_loses_no_contact_and_breaks_no_limit(stack: Stack) -> None:
    _human_only(stack)
    phones = factories.us_numbers(80, start=90000)
    campaign_id = _start_campaign(stack, phones)
    time.sleep(1.5)
    redis.Redis.from_url(stack.settings.redis_url or "").flushall()

    _wait_completed(stack, campaign_id, timeout_s=120)
    _assert_each_called_once(stack, campaign_id, phones)
