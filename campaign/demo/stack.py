"""The demo's system as separate processes: simulator, API/receiver, two workers, a dispatcher.

Every process gets the operator contract's environment (one `Settings` shape for all), with
secrets made fresh per run and a queue prefix of its own, so a demo sharing a machine's Redis
never meets another deployment's queues. Ports are asked from the OS. The processes are started
in dependency order and each one that serves HTTP must answer before the next starts.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from campaign.demo.supervisor import Child, Supervisor
from campaign.errors import ServiceUnavailable
from campaign.settings import Settings

CAMPAIGN = (sys.executable, "-m", "campaign")
WORKERS = 2
WORKER_CONCURRENCY = 16


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class StackConfig:
    """What varies between runs of the stack."""

    time_scale: float
    sim_config_file: Path
    seed: int = 7
    workers: int = WORKERS
    worker_concurrency: int = WORKER_CONCURRENCY


@dataclass(frozen=True)
class StackUrls:
    """Where the running stack answers."""

    api: str
    simulator: str


def process_env(settings: Settings, api_port: int, sim_port: int) -> dict[str, str]:
    """The operator-contract environment of a one-host stack: `settings`' servers, secrets and
    queue prefix, the API as the notification receiver and the simulator as the gateway."""
    return {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "QUEUE_PREFIX": settings.queue_prefix,
        "SAVG_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "SAVG_CLIENT_ID": settings.savg_client_id,
        "SAVG_CLIENT_SECRET": settings.savg_client_secret.get_secret_value(),
        "NOTIFY_BASE_URL": f"http://127.0.0.1:{api_port}",
        "NOTIFY_SECRET": settings.notify_secret.get_secret_value(),
        "API_KEYS": settings.api_keys.get_secret_value(),
    }


def stack_env(
    settings: Settings, config: StackConfig, api_port: int, sim_port: int
) -> dict[str, str]:
    """The environment every process of the demo's stack reads.

    DEADLINE_MARGIN_S is short because simulated calls last seconds; the simulator plays ring and
    talk times at `time_scale` and takes its outcome mix and scripts from `sim_config_file`.
    """
    return {
        **process_env(settings, api_port, sim_port),
        "DEADLINE_MARGIN_S": "10",
        "ENVIRONMENT": "development",
        "METRICS_PORT": "0",
        "SIM_CONFIG_FILE": str(config.sim_config_file),
        "SIM_CONFIG": json.dumps({"time_scale": config.time_scale, "seed": config.seed}),
        "PYTHONUNBUFFERED": "1",
    }


def demo_settings(base: Settings) -> Settings:
    """`base` with per-run secrets, a queue prefix of this run's own, and one operator API key
    made for this run (printed with the console's URL; it dies with the demo)."""
    return base.model_copy(
        update={
            "queue_prefix": f"demo{secrets.token_hex(3)}",
            "api_keys": SecretStr(f"demo-{secrets.token_urlsafe(18)}:operator"),
            "savg_client_id": "demo-client",
            "savg_client_secret": SecretStr(secrets.token_urlsafe(32)),
            "notify_secret": SecretStr(secrets.token_urlsafe(32)),
        }
    )


def operator_key(settings: Settings) -> str | None:
    """The first operator key of `settings` (the demo's own), if it has one."""
    return next((k for k, scope in settings.api_key_scopes.items() if scope == "operator"), None)


def wait_http(url: str, child: Child, timeout_s: float = 60.0) -> None:
    """Wait until `url` answers 2xx; fail at once, with the log's tail, if `child` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.exit_code() is not None:
            raise ServiceUnavailable(
                f"{child.name} exited with code {child.exit_code()} while starting:\n{child.tail()}"
            )
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ServiceUnavailable(
        f"{child.name} did not answer {url} within {timeout_s:.0f}s:\n{child.tail()}"
    )


def start_stack(sup: Supervisor, settings: Settings, config: StackConfig) -> StackUrls:
    """Start the processes under `sup`; returns once the simulator and the API answer."""
    api_port, sim_port = free_port(), free_port()
    env = stack_env(settings, config, api_port, sim_port)
    urls = StackUrls(api=f"http://127.0.0.1:{api_port}", simulator=f"http://127.0.0.1:{sim_port}")
    sim = sup.start("simulator", [*CAMPAIGN, "simulator", "--port", str(sim_port)], env)
    wait_http(f"{urls.simulator}/_sim/stats", sim)
    api = sup.start("api", [*CAMPAIGN, "api", "--port", str(api_port)], env)
    wait_http(f"{urls.api}/readyz", api)
    for n in range(1, config.workers + 1):
        name = f"worker{n}"
        argv = ["worker", "--concurrency", str(config.worker_concurrency), "-n", f"{name}@%h"]
        sup.start(name, [*CAMPAIGN, *argv], env)
    sup.start("dispatcher", [*CAMPAIGN, "dispatcher", "--tick", "0.2", "--sweep", "2"], env)
    return urls
