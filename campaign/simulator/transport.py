"""A lean HTTP/1.1 keep-alive transport under httpx, so notifications keep up with 500 calls/s.

Measured on the 2-core machine: httpx's default async transport (httpcore over anyio) costs about
1 ms of CPU per request, and its pool re-checks every connection on each request, so a backlog
grows the cost per request until posts fail with pool and connect timeouts; 500 dial-outs/s need
~1,250 posts/s. This transport keeps httpx's client API (requests, responses, per-phase timeouts,
the `httpx.TransportError` tree) and replaces only the wire, for ~0.1 ms per post: plain `http://`
(`https://` goes to httpx's own transport), one request at a time per connection, at most
`max_connections` per origin (waiting in a semaphore, O(1)), idle connections reused for `idle_s`.
A reused connection the server had already closed is retried once on a new one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

_MAX_HEAD = 64 * 1024
Origin = tuple[str, int]


class _Stale(Exception):
    """A reused idle connection was closed by the server before it answered anything."""


class _BadResponse(Exception):
    """The bytes read are not an HTTP/1.x response."""


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default=0.0)

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """See the module docstring; use as `httpx.AsyncClient(transport=LeanTransport(n))`."""

    def __init__(self, max_connections: int, idle_s: float = 4.0) -> None:
        self._max = max_connections
        self._idle_s = idle_s  # below uvicorn's 5 s keep-alive, so servers rarely beat us to it
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots: dict[Origin, asyncio.Semaphore] = {}
        self._tls = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` on a pooled connection and read the whole response."""
        if request.url.scheme != "http":
            return await self._tls.handle_async_request(request)
        origin = (request.url.host, request.url.port or 80)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        slots = self._slots.setdefault(origin, asyncio.Semaphore(self._max))
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no free connection in time", request=request) from exc
        try:
            data = _head(request) + await request.aread()
            conn = self._reuse(origin)
            if conn is not None:
                try:
                    return await self._roundtrip(conn, origin, data, request, timeouts, True)
                except _Stale:
                    pass
            conn = await _connect(origin, request, timeouts.get("connect"))
            return await self._roundtrip(conn, origin, data, request, timeouts, False)
        finally:
            slots.release()

    async def aclose(self) -> None:
        """Close every idle connection and the TLS fallback."""
        idle = [conn for conns in self._idle.values() for conn in conns]
        self._idle.clear()
        for conn in idle:
            conn.close()
        await asyncio.gather(*(c.writer.wait_closed() for c in idle), return_exceptions=True)
        await self._tls.aclose()

    def _reuse(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self._idle_s and not conn.reader.at_eof():
                return conn
            conn.close()
        return None

    async def _roundtrip(
        self,
        conn: _Connection,
        origin: Origin,
        data: bytes,
        request: httpx.Request,
        timeouts: dict[str, float | None],
        reused: bool,
    ) -> httpx.Response:
        try:
            conn.writer.write(data)
            async with asyncio.timeout(timeouts.get("write")):
                await conn.writer.drain()
            async with asyncio.timeout(timeouts.get("read")):
                status, headers, content, keep = await _read_response(conn.reader)
        except Exception as exc:
            conn.close()
            mapped = _translate(exc, request, reused)
            if mapped is None:
                raise
            raise mapped from exc
        except BaseException:  # cancelled mid-exchange: the connection's state is unknown
            conn.close()
            raise
        if keep:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.setdefault(origin, []).append(conn)
        else:
            conn.close()
        return httpx.Response(status, headers=headers, content=content, request=request)


def _translate(exc: Exception, request: httpx.Request, reused: bool) -> Exception | None:
    """The httpx error for a failed exchange; `_Stale` when a resend on a new connection is safe."""
    nothing_read = isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
    if reused and (nothing_read or isinstance(exc, ConnectionError)):
        return _Stale()
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout("no complete response in time", request=request)
    if isinstance(exc, EOFError | asyncio.LimitOverrunError | ValueError | _BadResponse):
        return httpx.RemoteProtocolError(f"bad or cut response: {exc!r}", request=request)
    if isinstance(exc, OSError):
        return httpx.ReadError(str(exc) or repr(exc), request=request)
    return None


async def _connect(origin: Origin, request: httpx.Request, timeout: float | None) -> _Connection:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(*origin, limit=_MAX_HEAD)
    except TimeoutError as exc:
        raise httpx.ConnectTimeout("connect timed out", request=request) from exc
    except OSError as exc:
        raise httpx.ConnectError(str(exc) or repr(exc), request=request) from exc
    return _Connection(reader, writer)


def _head(request: httpx.Request) -> bytes:
    lines = [request.method.encode() + b" " + request.url.raw_path + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    """Status, headers, body and whether the connection may be reused."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *header_lines = head[:-4].split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise _BadResponse(status_line[:80])
    status = int(rest[:3])
    headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in header_lines)]
    named = {k.lower(): v.lower() for k, v in headers}
    keep = version == "HTTP/1.1" and named.get("connection") != "close"
    if status in (204, 304) or status < 200:
        content = b""
    elif "chunked" in named.get("transfer-encoding", ""):
        content = await _read_chunked(reader)
        headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
    elif "content-length" in named:
        content = await reader.readexactly(int(named["content-length"]))
    else:
        content, keep = await reader.read(), False
    return status, headers, content, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers, which nobody here needs
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
