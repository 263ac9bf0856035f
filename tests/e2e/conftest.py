"""A whole system of real processes: simulator, API, 2 Celery workers, 2 dispatchers.

They share this session's database, Redis db and queue prefix; the tests talk to them only over
HTTP and through PostgreSQL, and use the simulator's records as the independent witness.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from campaign.db.migrate import upgrade
from campaign.demo.stack import process_env
from campaign.runtime import Runtime
from campaign.settings import Settings
from campaign.simulator.control import SimControl
from tests.support import services
from tests.support.procs import CAMPAIGN, SHORT_TIMERS, Proc, wait_http
from tests.support.services import free_port

TIME_SCALE = 0.01  # a 30-second call lasts 300 ms


@dataclass
class Stack:
    """Handles on the running system."""

    settings: Settings
    runtime: Runtime
    sim: SimControl
    sim_url: str
    api_url: str
    env: dict[str, str]
    log_dir: Path
    procs: dict[str, Proc] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> Proc:
        proc = Proc(name, [*CAMPAIGN, *args], self.env, self.log_dir)
        self.procs[name] = proc
        return proc

    def start_api(self) -> Proc:
        api = self.start("api", "api", "--port", self.api_url.rsplit(":", 1)[1])
        wait_http(f"{self.api_url}/healthz", api)
        return api

    def start_worker(self, name: str, concurrency: int = 8) -> Proc:
        return self.start(name, "worker", "--concurrency", str(concurrency), "-n", f"{name}@%h")

    def start_dispatcher(self, name: str) -> Proc:
        return self.start(name, "dispatcher", "--tick", "0.1", "--sweep", "0.5")

    def env_os(self) -> dict[str, str]:
        """The test process's own environment, for CLI subprocesses."""
        return dict(os.environ)

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.tail(30)}" for n, p in self.procs.items())


def stack_env(settings: Settings, sim_port: int, api_port: int) -> dict[str, str]:
    """The environment every process of the stack reads (the operator contract's names)."""
    return {
        **process_env(settings, api_port, sim_port),
        **SHORT_TIMERS,
        "SIM_CONFIG": json.dumps({"time_scale": TIME_SCALE}),
    }


@contextmanager
def launch(
    settings: Settings, log_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Simulator, API, 2 workers and 2 dispatchers on `settings`' servers (migrated already);
    every process is stopped by its own pid on the way out."""
    sim_port, api_port = free_port(), free_port()
    settings = settings.model_copy(
        update={
            "savg_base_url": f"http://127.0.0.1:{sim_port}",
            "notify_base_url": f"http://127.0.0.1:{api_port}",
        }
    )
    runtime = Runtime(settings, pool_size=4)
    s = Stack(
        settings=settings,
        runtime=runtime,
        sim=SimControl(f"http://127.0.0.1:{sim_port}"),
        sim_url=f"http://127.0.0.1:{sim_port}",
        api_url=f"http://127.0.0.1:{api_port}",
        env={**stack_env(settings, sim_port, api_port), **(extra_env or {})},
        log_dir=log_dir,
    )
    try:
        sim = s.start("simulator", "simulator", "--port", str(sim_port))
        wait_http(f"{s.sim_url}/_sim/stats", sim)
        s.start_api()
        s.start_worker("worker1")
        s.start_worker("worker2")
        s.start_dispatcher("dispatcher1")
        s.start_dispatcher("dispatcher2")
        yield s
    finally:
        for proc in s.procs.values():
            proc.stop()
        s.sim.close()
        runtime.close()


@pytest.fixture(scope="module")
def stack(
    settings: Settings, servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Start the system once per test module, on a database of its own (its dispatchers claim
    every running campaign they see)."""
    database = services.create_database(servers[0])
    upgrade(database.replace("postgresql://", "postgresql+psycopg://", 1))
    settings = settings.model_copy(
        update={"database_url": database, "queue_prefix": f"e2e{secrets.token_hex(4)}"}
    )
    try:
        with launch(settings, tmp_path_factory.mktemp("stack")) as s:
            yield s
    finally:
        services.drop_database(servers[0], database)
