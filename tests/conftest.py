"""Session-wide services: a fresh migrated database, a Redis db and a queue prefix of our own.

Service fixtures skip when the servers are unreachable on a developer's machine but fail under CI
(`CI` set), so a broken CI machine can never look green.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from campaign.db.engine import make_engine, make_session_factory
from campaign.db.migrate import upgrade
from campaign.settings import Settings, load_settings
from tests.support import services


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(admin PostgreSQL URL, Redis URL): the machine's servers, or embedded ones from wheels
    when CAMPAIGN_TEST_EMBEDDED is set (`.ci/run` sets it on a machine without servers)."""
    if not os.environ.get("CAMPAIGN_TEST_EMBEDDED"):
        yield services.admin_database_url(), services.redis_base_url()
        return
    from campaign.demo.embedded import start_embedded

    # Not under pytest's basetemp: concurrent pytest sessions prune each other's old basetemps.
    data_dir = Path(tempfile.mkdtemp(prefix="campaign-embedded-"))
    embedded = start_embedded(data_dir)
    try:
        yield embedded.postgres.admin_url(), embedded.redis_url
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(servers: tuple[str, str]) -> Iterator[str]:
    """A brand-new database for this test session, migrated to head, dropped at the end."""
    admin = servers[0]
    try:
        url = services.create_database(admin)
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
        raise
    try:
        upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1))
        yield url
    finally:
        services.drop_database(admin, url)


@pytest.fixture(scope="session")
def redis_url(servers: tuple[str, str]) -> str:
    """A Redis db number picked at random for this session (keys are also prefixed)."""
    url = services.with_redis_db(servers[1], secrets.randbelow(15) + 1)
    try:
        redis.Redis.from_url(url).ping()
    except Exception as exc:
        _unavailable("Redis", exc)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    """Settings for in-process code under test: unique queue prefix, test secrets."""
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        queue_prefix=f"t{secrets.token_hex(4)}",
        notify_secret="test-notify-secret",
        savg_client_id="test-client",
        savg_client_secret="test-client-secret",
        api_keys="op-key:operator,read-key:read",
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that really commit: for code that owns its transactions (services, tasks)."""
    return make_session_factory(engine)


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test (savepoints inside)."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
