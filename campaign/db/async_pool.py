"""A few autocommit psycopg connections on the event loop, for the receiver's one-statement writes.

The notification receiver stores each body with a single statement (`services.intake`): in
autocommit that statement is its own transaction, committed before the reply arrives, so it needs
no Session, no BEGIN/COMMIT round trips, no worker thread and no pre-ping (the engine's
`pool_pre_ping` costs a round trip per checkout). A connection that broke (PostgreSQL restarted)
is detected on use instead: the statement is sent once more on a fresh connection, which the
statement allows (its insert is deduplicated, so a body stored twice is stored once).

The pool belongs to one event loop; served again from another loop (a test serving the same
runtime twice), it drops the previous loop's connections and starts afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus


class AsyncConnections:
    """Up to `size` autocommit connections to `conninfo`, opened on demand and kept while sound,
    named `application_name` in `pg_stat_activity`."""

    def __init__(self, conninfo: str, size: int, *, application_name: str) -> None:
        self._conninfo = conninfo
        self._application_name = application_name
        self._size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(size)

    async def fetchall(self, query: bytes, params: Mapping[str, object]) -> list[tuple[Any, ...]]:
        """Run one statement (prepared on each connection) and return its rows.

        A connection found broken is dropped with every idle one (a restarted server broke them
        all, as SQLAlchemy invalidates its pool), and the statement is sent once more on a new
        connection; errors from a new connection, or of the statement itself, propagate.
        """
        self._bind_loop()
        async with self._slots:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                return await self._run(conn, query, params)
            except psycopg.OperationalError:
                if not (reused and conn.broken):
                    raise
                self._discard(conn)
                self.close()
                conn = await self._connect()
                return await self._run(conn, query, params)
            finally:
                self._give_back(conn)  # or closed, when an error or a cancel left it unsound

    @staticmethod
    async def _run(
        conn: psycopg.AsyncConnection[Any], query: bytes, params: Mapping[str, object]
    ) -> list[tuple[Any, ...]]:
        cursor = await conn.execute(query, params, prepare=True)
        return await cursor.fetchall()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, application_name=self._application_name
        )

    def _give_back(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
            self._discard(conn)
        else:
            self._idle.append(conn)

    @staticmethod
    def _discard(conn: psycopg.AsyncConnection[Any]) -> None:
        conn.pgconn.finish()  # synchronous: closing needs no running loop

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self.close()
            self._loop = loop
            self._slots = asyncio.Semaphore(self._size)

    def close(self) -> None:
        """Close the idle connections (at shutdown, or once a broken one was found)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)
