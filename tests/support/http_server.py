"""A real HTTP/1.1 server on 127.0.0.1 for client tests: every request goes to a `respond` callable.

The reply can be slow (`delay_s`) or a TCP reset after the request was read (`reset`), the two
faults a client must tell apart from a clean refusal. Slow replies wake up when the server stops,
so a test never waits for them.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


@dataclass(frozen=True)
class Received:
    """One request as the server read it; header names lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer: a status, body and headers, after `delay_s`, or a reset instead."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    reset: bool = False

    @classmethod
    def json(
        cls, status: int, data: object, *, headers: Mapping[str, str] = {}, delay_s: float = 0.0
    ) -> Reply:
        """A JSON reply with its Content-Type."""
        headers = {"Content-Type": "application/json", **headers}
        return cls(status, json.dumps(data).encode(), headers, delay_s=delay_s)


class HttpServer:
    """Threaded server on a port the OS picks; use as a context manager."""

    def __init__(self, respond: Callable[[Received], Reply]) -> None:
        self._respond = respond
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received = Received(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                server._answer(self, server._respond(received))

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay_s and self._stopping.wait(reply.delay_s):
            handler.close_connection = True
            return
        if reply.reset:
            # SO_LINGER 0 turns the close into a RST: the client sees "connection reset".
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            handler.connection.close()
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (read timeout) makes our late write fail; that is expected
