"""The system under chaos: PostgreSQL and Redis this run owns, and every engine process.

The servers are embedded ones (`campaign.demo.embedded`) in a folder of the run's own, so stopping
and restarting them harms no other work on the machine, and they come back on the same socket/port,
as a restarted server in production comes back at the same address. Every process is started in
its own process group, logs to `<run>/logs/<name>.<generation>.log` (a restarted worker gets a new
file, so the log of the one killed is kept) and is stopped by its own pid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from campaign.db.migrate import upgrade
from campaign.demo.embedded import Embedded, start_embedded, start_postgres
from campaign.demo.embedded_redis import start_redis
from campaign.demo.stack import process_env
from campaign.runtime import Runtime
from campaign.settings import Settings, load_settings
from campaign.simulator.control import SimControl
from chaos.plan import MIX, SIM_FAULTS, SIM_TIMES, TIME_SCALE, Size
from tests.support.procs import CAMPAIGN, SHORT_TIMERS, Proc, wait_http
from tests.support.services import free_port


class ChaosStack:
    """Servers and processes of one run; `close()` stops everything it started."""

    def __init__(self, run_dir: Path, size: Size, seed: int) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.seed = seed
        self.servers: Embedded | None = None
        self.procs: dict[str, Proc] = {}
        self.lock = threading.RLock()  # the injector's and the supervisor's threads both spawn
        self.held: set[str] = set()  # stopped on purpose: not to be revived by the supervisor
        self._argv: dict[str, tuple[str, ...]] = {}
        self._generation: dict[str, int] = {}
        self.sim_port, self.api_port = free_port(), free_port()
        self.sim = SimControl(f"http://127.0.0.1:{self.sim_port}", timeout_s=60)
        self._settings: Settings | None = None
        self._runtime: Runtime | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("the stack is not started")
        return self._settings

    @property
    def runtime(self) -> Runtime:
        """Sessions on this run's database, for the harness's own reads."""
        if self._runtime is None:
            self._runtime = Runtime(self.settings, pool_size=2)
        return self._runtime

    def start(self) -> None:
        """Servers first, then simulator, API, workers and dispatchers, each answering or alive."""
        self.servers = start_embedded(self.run_dir / "servers")
        upgrade(self.servers.postgres.sqlalchemy_url)
        self._settings = load_settings(
            database_url=self.servers.database_url,
            redis_url=self.servers.redis_url,
            queue_prefix=f"chaos{secrets.token_hex(3)}",
            notify_secret=secrets.token_urlsafe(24),
            savg_client_id="chaos-client",
            savg_client_secret=secrets.token_urlsafe(32),
            api_keys="chaos-key:operator",
        )
        sim = self._spawn("simulator", "simulator", "--port", str(self.sim_port))
        wait_http(f"{self.sim.base_url}/_sim/stats", sim)
        self.start_api()
        for name in self.size.worker_names:
            self.start_worker(name)
        for i in range(1, self.size.dispatchers + 1):
            self._spawn(f"dispatcher{i}", "dispatcher", "--tick", "0.1", "--sweep", "0.5")

    @property
    def env(self) -> dict[str, str]:
        """The operator contract's environment, as every process of the stack reads it."""
        sim_config = {
            "time_scale": TIME_SCALE,
            "seed": self.seed,
            "mix": MIX,
            "faults": SIM_FAULTS,
            **SIM_TIMES,
        }
        return {
            **process_env(self.settings, self.api_port, self.sim_port),
            **SHORT_TIMERS,  # as the e2e fault tests run them
            "API_KEYS": self.settings.api_keys.get_secret_value(),
            "SIM_CONFIG": json.dumps(sim_config),
            "PYTHONUNBUFFERED": "1",
        }

    def _spawn(self, name: str, *args: str) -> Proc:
        with self.lock:
            generation = self._generation.get(name, 0) + 1
            self._generation[name] = generation
            self._argv[name] = args
            proc = Proc(f"{name}.{generation}", [*CAMPAIGN, *args], self.env, self.log_dir)
            self.procs[name] = proc
        if name == "api":
            wait_http(f"http://127.0.0.1:{self.api_port}/healthz", proc, timeout_s=60)
        return proc

    def start_api(self) -> None:
        self._spawn("api", "api", "--port", str(self.api_port))

    def start_worker(self, name: str) -> None:
        self._spawn(name, "worker", "--concurrency", str(self.size.concurrency), "-n", f"{name}@%h")

    def respawn(self, name: str) -> None:
        """Start `name` again as it was started (a new log file: the old one is kept)."""
        self._spawn(name, *self._argv[name])

    def kill(self, name: str, *, restart: bool) -> None:
        """SIGKILL one process (its whole group): a crash, nothing flushed, nothing acked; with
        `restart`, start it again at once, else hold it down until `release(name)`."""
        with self.lock:
            self.procs[name].kill()
            if restart:
                self.respawn(name)
            else:
                self.held.add(name)

    def release(self, name: str) -> None:
        """Start a process held down by `kill(name, restart=False)`."""
        self.respawn(name)
        with self.lock:
            self.held.discard(name)

    def restart_redis(self, down_s: float, sleep: Callable[[float], None]) -> None:
        """Stop Redis (no persistence: queues, leases, buckets, the breaker are gone), wait
        `down_s`, start it again on the same port."""
        servers = self._servers()
        servers.redis.stop()
        sleep(down_s)
        servers.redis = start_redis(servers.redis.directory)
        if servers.redis.url != self.settings.redis_url:
            raise RuntimeError(f"Redis came back at {servers.redis.url}, not its old address")

    def restart_postgres(self, down_s: float, sleep: Callable[[float], None]) -> None:
        """Fast shutdown (every session cut), wait `down_s`, start it again on its socket."""
        servers = self._servers()
        servers.postgres.stop()
        sleep(down_s)
        servers.postgres = start_postgres(servers.postgres.pgdata)

    def _servers(self) -> Embedded:
        if self.servers is None:
            raise RuntimeError("the stack is not started")
        return self.servers

    def cli(self, *args: str) -> str:
        """Run one `campaign …` command as an operator would; its stdout, or an error naming it."""
        done = subprocess.run(
            [*CAMPAIGN, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"campaign {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def close(self) -> None:
        """Stop producers before what they talk to, then the servers; keep the logs."""
        for prefix in ("dispatcher", "worker", "api", "simulator"):
            for name, proc in self.procs.items():
                if name.startswith(prefix):
                    proc.stop()
        self.sim.close()
        if self._runtime is not None:
            self._runtime.close()
        if self.servers is not None:
            self.servers.stop()
            redis_log = self.run_dir / "servers" / "redis" / "redis.log"
            if redis_log.exists():
                shutil.copy(redis_log, self.log_dir / "redis.log")
            shutil.rmtree(self.run_dir / "servers", ignore_errors=True)
