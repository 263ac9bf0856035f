"""The simulator's HTTP surface: SAVG's dial-out endpoint plus the `/_sim/*` control endpoints.

The handlers are thin: the :class:`Switchboard` decides, the handler only sleeps for a slow-answer
fault or drops the connection for a reset fault. `/_sim/*` is the independent witness tests and
benchmarks read: `calls`, `refused`, `stats`, `reset`, and `config` (GET reads, PUT replaces,
PATCH deep-merges).

`/_sim/*` can reconfigure and reset the simulator, so it answers only a caller on the loopback
interface or, when `SIM_CONTROL_TOKEN` is set, one that sends `Authorization: Bearer <token>`
(for a simulator in its own container or pod, driven from another).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from campaign.simulator.auth import Credentials
from campaign.simulator.config import SimConfig
from campaign.simulator.connection import drop_connection
from campaign.simulator.notifier import Notifier
from campaign.simulator.numbers import number_key
from campaign.simulator.switchboard import Switchboard

DIALOUT_PATH = "/api/1.1/public/bot/{bot_id}/smartassist/dialout"


class ControlGuard:
    """Plain ASGI (no per-request cost on the dial-out path): refuses `/_sim/*` to callers that
    are neither on loopback nor holding the control token."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def allowed(self, scope: Scope) -> bool:
        """The caller may use the control routes."""
        if self.token is not None:
            given = Headers(scope=scope).get("authorization", "")
            expected = f"Bearer {self.token}"
            return hmac.compare_digest(given.encode(), expected.encode())
        client = scope.get("client") or ("", 0)
        try:
            return ipaddress.ip_address(client[0]).is_loopback
        except ValueError:
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith("/_sim")
            and not self.allowed(scope)
        ):
            detail = "the /_sim control routes need a loopback caller or SIM_CONTROL_TOKEN"
            refusal = JSONResponse({"detail": detail}, 401, {"WWW-Authenticate": "Bearer"})
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(
    config: SimConfig, credentials: Credentials, control_token: str | None = None
) -> FastAPI:
    """The ASGI app; its lifespan owns the notifier's HTTP client. `/_sim/*` needs a loopback
    caller, or `control_token` as a bearer token when one is given."""
    board = Switchboard(config, credentials)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        board.notifier = Notifier(board.config.notify.max_connections)
        try:
            yield
        finally:
            board.reset()
            await board.notifier.aclose()

    app = FastAPI(title="SAVG simulator", lifespan=lifespan, openapi_url=None)
    app.state.board = board
    app.add_middleware(ControlGuard, token=control_token)

    @app.post(DIALOUT_PATH)
    async def dialout(bot_id: str, request: Request) -> Response:
        answer = board.dial(bot_id, request.headers.get("auth"), await request.body())
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.reset:
            await drop_connection(request.scope)
            return Response(status_code=204)  # never sent: the connection is gone
        return JSONResponse(answer.body, answer.status, answer.headers)

    # The record endpoints answer JSONResponse directly: FastAPI's encoder would walk every value
    # of every record again, which takes seconds after a long benchmark.
    @app.get("/_sim/calls")
    async def calls(number: str | None = None) -> Response:
        wanted = None if number is None else number_key(number)
        rows = [c.to_json() for c in board.recorder.calls if wanted in (None, c.request.number)]
        return JSONResponse(rows)

    @app.get("/_sim/refused")
    async def refused() -> Response:
        return JSONResponse([asdict(r) for r in board.recorder.refusals])

    @app.get("/_sim/stats")
    async def stats() -> Response:
        return JSONResponse({**board.recorder.stats(), "pending_events": board.pending_events})

    @app.post("/_sim/reset")
    async def reset() -> dict[str, str]:
        board.reset()
        return {"status": "reset"}

    @app.get("/_sim/config")
    async def get_config() -> dict[str, Any]:
        return board.config.model_dump(mode="json")

    @app.put("/_sim/config")
    async def put_config(request: Request) -> Response:
        return _apply(board, await request.json(), replace=True)

    @app.patch("/_sim/config")
    async def patch_config(request: Request) -> Response:
        return _apply(board, await request.json(), replace=False)

    return app


def _apply(board: Switchboard, data: object, *, replace: bool) -> Response:
    if not isinstance(data, dict):
        return JSONResponse({"detail": "the config must be a JSON object"}, 422)
    try:
        config = SimConfig.model_validate(data) if replace else board.config.patched(data)
        board.configure(config)
    except ValidationError as exc:
        detail = [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, 422)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, 422)
    return JSONResponse(board.config.model_dump(mode="json"))
