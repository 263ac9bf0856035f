"""A real simulator process for service tests that dial (the gateway side of the wire)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from campaign.runtime import Runtime
from campaign.settings import Settings
from campaign.simulator.control import SimControl
from tests.support.procs import CAMPAIGN, Proc, wait_http
from tests.support.services import free_port


@pytest.fixture(scope="session")
def gateway_sim(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimControl]:
    """`campaign simulator` on a free port, verifying this session's SAVG credentials."""
    port = free_port()
    env = {
        "SAVG_CLIENT_ID": settings.savg_client_id,
        "SAVG_CLIENT_SECRET": settings.savg_client_secret.get_secret_value(),
        "SIM_CONFIG": json.dumps({"time_scale": 0.01}),
    }
    log_dir: Path = tmp_path_factory.mktemp("gateway-sim")
    proc = Proc("simulator", [*CAMPAIGN, "simulator", "--port", str(port)], env, log_dir)
    try:
        wait_http(f"http://127.0.0.1:{port}/_sim/stats", proc)
        with SimControl(f"http://127.0.0.1:{port}") as control:
            yield control
    finally:
        proc.stop()


@pytest.fixture
def sim(gateway_sim: SimControl) -> SimControl:
    """The simulator, reset to defaults with every call a human answer."""
    gateway_sim.reset()
    gateway_sim.replace_config({"time_scale": 0.01, "mix": {"human": 1}})
    return gateway_sim


@pytest.fixture
def sending_runtime(settings: Settings, redis_client: redis.Redis) -> Iterator[Runtime]:
    """A real Runtime (its Celery sends reach Redis) on a queue prefix of its own; every key of
    that prefix is deleted afterwards."""
    rt = Runtime(settings.model_copy(update={"queue_prefix": f"s{secrets.token_hex(4)}"}))
    try:
        yield rt
    finally:
        for key in redis_client.scan_iter(f"*{rt.settings.queue_prefix}*"):
            redis_client.delete(key)
        rt.close()
