"""Where a benchmark runs: its own PostgreSQL database, a Redis prefix of its own, real processes.

Every suite gets a fresh database `bench_<random>` (migrated, dropped at the end) and a unique
queue/key prefix on Redis db 14, so a benchmark never reads another run's rows or messages and can
share the machine's servers with test sessions. Processes are started in their own process group
and stopped by their pid only.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from campaign.db.migrate import upgrade
from campaign.runtime import Runtime
from campaign.settings import Settings, load_settings
from campaign.simulator.control import SimControl
from tests.support.procs import CAMPAIGN, Proc, wait_http
from tests.support.services import (
    admin_database_url,
    free_port,
    redis_base_url,
    with_database,
    with_redis_db,
)

REDIS_DB = 14
NOTIFY_SECRET = "bench-notify-secret"
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-client-secret-of-32-bytes!!"


@contextmanager
def bench_settings() -> Iterator[Settings]:
    """Settings on a fresh migrated database and a unique Redis prefix; both cleaned up after."""
    admin = admin_database_url()
    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin, name)
    prefix = f"bench{secrets.token_hex(4)}"
    redis_url = with_redis_db(redis_base_url(), REDIS_DB)
    try:
        upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1))
        yield load_settings(
            database_url=url,
            redis_url=redis_url,
            queue_prefix=prefix,
            notify_secret=NOTIFY_SECRET,
            savg_client_id=CLIENT_ID,
            savg_client_secret=CLIENT_SECRET,
            api_keys="bench-key:operator",
        )
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(settings: Settings) -> str:
    """The bench database's name (to find its PostgreSQL backends)."""
    return (settings.database_url or "").rsplit("/", 1)[-1]


@dataclass
class Stack:
    """A running system of real processes sharing one Settings; the simulator is the witness."""

    settings: Settings
    sim_config: dict[str, Any]
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))
    procs: dict[str, Proc] = field(default_factory=dict)
    sim_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.settings, pool_size=4)
        self.sim = SimControl(self.sim_url, timeout_s=60)

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        """The operator contract's environment, as every process of the stack reads it."""
        s = self.settings
        return {
            "DATABASE_URL": s.database_url or "",
            "REDIS_URL": s.redis_url or "",
            "QUEUE_PREFIX": s.queue_prefix,
            "SAVG_BASE_URL": self.sim_url,
            "SAVG_CLIENT_ID": s.savg_client_id,
            "SAVG_CLIENT_SECRET": s.savg_client_secret.get_secret_value(),
            "NOTIFY_BASE_URL": self.api_url,
            "NOTIFY_SECRET": s.notify_secret.get_secret_value(),
            "API_KEYS": s.api_keys.get_secret_value(),
            "DEADLINE_MARGIN_S": "2",
            "SIM_CONFIG": json.dumps(self.sim_config),
        }

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        """A process with the stack's environment (plus `env`), logging to the stack's log dir."""
        proc = Proc(name, argv, {**self.env, **(env or {})}, self.log_dir)
        self.procs[name] = proc
        return proc

    def start_simulator(self) -> None:
        sim = self.start("simulator", [*CAMPAIGN, "simulator", "--port", str(self.sim_port)])
        wait_http(f"{self.sim_url}/_sim/stats", sim)

    def start_api(self) -> None:
        api = self.start("api", [*CAMPAIGN, "api", "--port", str(self.api_port)])
        wait_http(f"{self.api_url}/healthz", api)

    def start_workers(self, count: int, concurrency: int) -> None:
        """`count` Celery worker processes (`worker1`…) of `concurrency` threads each."""
        for i in range(1, count + 1):
            name = f"worker{i}"
            self.start(
                name,
                [*CAMPAIGN, "worker", "--concurrency", str(concurrency), "-n", f"{name}@%h"],
            )

    def start_dispatchers(self, count: int) -> None:
        """`count` dispatchers at the command's own tick and sweep intervals, as production runs
        them: the e2e suite's shorter ones (0.1 and 0.5 s) charged the loop 1.1–1.5 CPU-ms per
        attempt of sweeps and empty ticks (dispatchers and PostgreSQL) that no operator pays."""
        for i in range(1, count + 1):
            self.start(f"dispatcher{i}", [*CAMPAIGN, "dispatcher"])

    def stop(self, prefix: str) -> None:
        """Stop every process whose name starts with `prefix` (by pid)."""
        for name in [n for n in self.procs if n.startswith(prefix)]:
            self.procs.pop(name).stop()

    def check_alive(self) -> None:
        """Fail loudly with the logs if a process of the stack died."""
        dead = [p for p in self.procs.values() if not p.alive()]
        if dead:
            tails = "\n".join(f"--- {p.name}\n{p.tail(30)}" for p in dead)
            raise RuntimeError(f"stack processes exited:\n{tails}")

    def close(self, keep_logs: bool = False) -> None:
        """Stop producers before what they talk to: dispatchers, workers, the API, the simulator."""
        for prefix in ("dispatcher", "worker", "naive", "api", "simulator", ""):
            self.stop(prefix)
        self.sim.close()
        self.runtime.close()
        if not keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)


@contextmanager
def running_stack(settings: Settings, sim_config: dict[str, Any]) -> Iterator[Stack]:
    """A Stack that is always torn down; logs are kept (and their path printed) on failure."""
    stack = Stack(settings, sim_config)
    ok = False
    try:
        yield stack
        ok = True
    finally:
        stack.close(keep_logs=not ok)
        if not ok:
            print(f"stack logs kept in {stack.log_dir}")
