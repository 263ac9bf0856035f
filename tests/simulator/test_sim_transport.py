"""The notifier's lean transport reads real HTTP/1.1 servers' answers the way httpx would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx
import pytest

from campaign.simulator.transport import LeanTransport

ClientCode = Callable[[httpx.AsyncClient, str], Awaitable[None]]


class RawServer:
    """A TCP server that answers each request with the next canned bytes, then maybe hangs up;
    a request beyond the answers gets silence for `hang_s`, then a close."""

    def __init__(
        self, answers: list[bytes], *, close_after_each: bool = False, hang_s: float = 0.0
    ) -> None:
        self._answers = list(answers)
        self._close_after_each = close_after_each
        self._hang_s = hang_s
        self._writers: list[asyncio.StreamWriter] = []
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/notify"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in self._writers), return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = [h for h in head.lower().split(b"\r\n") if h.startswith(b"content-length")]
                await reader.readexactly(int(length[0].split(b":")[1]) if length else 0)
                if not self._answers:
                    await asyncio.sleep(self._hang_s)
                    break
                writer.write(self._answers.pop(0))
                await writer.drain()
                if self._close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _run(server: RawServer, client_code: ClientCode, timeout_s: float = 5.0) -> None:
    async def main() -> None:
        async with server:
            transport = LeanTransport(4)
            async with httpx.AsyncClient(transport=transport, timeout=timeout_s) as client:
                await client_code(client, server.url)

    asyncio.run(main())


def test_content_length_bodies_are_read_on_a_reused_connection() -> None:
    answer = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"

    async def client_code(client: httpx.AsyncClient, url: str) -> None:
        for _ in range(3):
            response = await client.post(url, content=b"{}")
            assert (response.status_code, response.text) == (202, "ok")

    _run(RawServer([answer] * 3), client_code)


def test_chunked_bodies_are_reassembled() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )

    async def client_code(client: httpx.AsyncClient, url: str) -> None:
        assert (await client.post(url, content=b"{}")).text == "abcde"
        assert (await client.post(url, content=b"{}")).text == "abcde"

    _run(RawServer([answer] * 2), client_code)


def test_a_body_delimited_by_close_is_read_and_the_next_post_reconnects() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye"

    async def client_code(client: httpx.AsyncClient, url: str) -> None:
        assert (await client.post(url, content=b"{}")).text == "bye"
        assert (await client.post(url, content=b"{}")).text == "bye"

    _run(RawServer([answer] * 2, close_after_each=True), client_code)


def test_an_idle_connection_the_server_closed_is_replaced_transparently() -> None:
    answer = b"HTTP/1.1 204 No Content\r\n\r\n"

    async def client_code(client: httpx.AsyncClient, url: str) -> None:
        assert (await client.post(url, content=b"{}")).status_code == 204
        await asyncio.sleep(0.05)  # the server hung up; the pool still holds the connection
        assert (await client.post(url, content=b"{}")).status_code == 204

    _run(RawServer([answer] * 2, close_after_each=True), client_code)


def test_a_server_that_never_answers_gives_a_read_timeout() -> None:
    async def client_code(client: httpx.AsyncClient, url: str) -> None:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, content=b"{}", timeout=0.2)

    _run(RawServer([], hang_s=1.0), client_code)


def test_garbage_is_a_protocol_error_and_nothing_listening_a_connect_error() -> None:
    async def client_code(client: httpx.AsyncClient, url: str) -> None:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(url, content=b"{}")
        with pytest.raises(httpx.ConnectError):
            await client.post("http://127.0.0.1:9/notify", content=b"{}")

    _run(RawServer([b"SMTP ready\r\n\r\n"]), client_code)
