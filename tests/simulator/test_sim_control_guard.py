"""`/_sim/*` answers only a loopback caller, or the holder of SIM_CONTROL_TOKEN."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaign.simulator.app import create_app
from campaign.simulator.auth import Credentials
from campaign.simulator.config import SimConfig
from campaign.simulator.control import SimControl
from tests.simulator.harness import start_simulator, stop_process

CREDENTIALS = Credentials(client_id="c", client_secret="s" * 32)


def _status(app: Any, path: str, client: str, headers: dict[str, str] | None = None) -> int:
    """Drive one GET through the ASGI app as if it came from `client` (no packet is sent)."""
    sent: list[int] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 40000),
        "server": ("0.0.0.0", 8090),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    asyncio.run(app(scope, receive, send))
    return sent[0]


@pytest.mark.parametrize("path", ["/_sim/stats", "/_sim/config", "/_sim/calls"])
def test_control_routes_refuse_a_caller_from_another_host(path: str) -> None:
    app = create_app(SimConfig(), CREDENTIALS)
    assert _status(app, path, "10.1.2.3") == 401
    assert _status(app, path, "127.0.0.1") == 200
    assert _status(app, path, "::1") == 200


def test_with_a_token_only_its_holder_may_use_the_control_routes() -> None:
    app = create_app(SimConfig(), CREDENTIALS, control_token="sim-control-token")
    assert _status(app, "/_sim/stats", "127.0.0.1") == 401
    assert _status(app, "/_sim/stats", "10.1.2.3", {"Authorization": "Bearer wrong"}) == 401
    good = {"Authorization": "Bearer sim-control-token"}
    assert _status(app, "/_sim/stats", "10.1.2.3", good) == 200


def test_the_dial_out_route_is_not_behind_the_control_guard() -> None:
    app = create_app(SimConfig(), CREDENTIALS, control_token="sim-control-token")
    # A GET on the dial-out path: 405 from the route itself, not 401 from the guard.
    assert _status(app, "/api/1.1/public/bot/b/smartassist/dialout", "10.1.2.3") == 405


def test_a_simulator_process_with_a_token_refuses_the_control_routes_without_it(
    tmp_path: Path,
) -> None:
    proc, url = start_simulator(tmp_path / "sim.log", env={"SIM_CONTROL_TOKEN": "tok-123"})
    try:
        assert httpx.get(f"{url}/_sim/stats", timeout=5).status_code == 401
        with SimControl(url, token="tok-123") as control:
            assert isinstance(control.stats(), dict)
    finally:
        stop_process(proc)
