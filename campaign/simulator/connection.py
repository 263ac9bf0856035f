"""Dropping a dial-out's connection without an answer, which plain ASGI cannot express.

uvicorn's h11 protocol is subclassed only to put each connection's transport into the request
scope (extension `savg_sim.transport`); :func:`drop_connection` aborts that transport with
`SO_LINGER 0`, so the client reads a TCP reset instead of any status line. This leans on uvicorn's
`H11Protocol` internals (`self.app`, `self.transport`); the connection-reset tests pin it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Mapping
from typing import Any

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

TRANSPORT_KEY = "savg_sim.transport"


class ResettableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing its transport to the app through the scope."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        inner = self.app

        async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
            # Only HTTP scopes carry the key; lifespan and websocket scopes pass through untouched.
            if scope["type"] == "http":
                extensions: dict[str, Any] = scope.setdefault("extensions", {})
                extensions[TRANSPORT_KEY] = self.transport
            await inner(scope, receive, send)

        self.app = app


async def drop_connection(scope: Mapping[str, Any]) -> None:
    """Reset the request's TCP connection; whatever the app sends afterwards goes nowhere."""
    transport = (scope.get("extensions") or {}).get(TRANSPORT_KEY)
    if not isinstance(transport, asyncio.Transport):
        raise RuntimeError("connection resets need ResettableH11Protocol (campaign.simulator.run)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # connection_lost runs on the next loop turn; after it uvicorn drops our response silently.
    await asyncio.sleep(0)
