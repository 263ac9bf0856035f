"""Engine, sessions and the caller-owned transaction (style rule 5).

Helpers take a `Session` and never commit; entry points wrap work in :func:`transaction`, and side
effects (Celery sends) are registered with :func:`after_commit` so they never run for a rolled-back
change. The dial path's few hot statements, each a transaction of one statement that loads no
objects, run on the pooled psycopg connection itself (:func:`run_one`), past SQLAlchemy's execute
pipeline.

A restarted PostgreSQL (or a terminated backend) leaves every pooled connection dead. A checkout
finds out without a round trip (`make_engine`'s `_still_there`): the server's goodbye (an
admin-shutdown error, then end of file) makes an idle connection's socket readable, which almost
nothing else does (the engine never LISTENs; a configuration reload may report a parameter), so
one `poll` per checkout tells a live connection from a suspect one, and only a suspect one pays
for the `SELECT 1` that SQLAlchemy's `pool_pre_ping` ran on every checkout (a round trip per
transaction: 3 per dial). A dead connection invalidates the whole pool, as a failed
pre-ping did, and the checkout reconnects: after a restart, every caller's next transaction runs on
a new connection (or fails to connect while the server is still down, as before).

Neither check sees a server that dies between the checkout and the statement: that statement
fails as a disconnect (SQLAlchemy then invalidates the pool) and its caller handles the error as
it handles any database error: the dial task leaves its attempt `queued` or `dialing` for the
sweeper (never a second POST for one attempt) and keeps a receipt for a sid it could not write
(`dial_records.record_accept`); the API receiver does not use this engine (its own connections
send its one statement again on a new connection, `db.async_pool`); the consumer's task
and the dispatcher's pass fail and the next one retries.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

from sqlalchemy import ClauseElement, Dialect, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler

from campaign.settings import Settings

_AFTER_COMMIT_KEY = "campaign.after_commit"


def make_engine(settings: Settings, *, pool_size: int = 10) -> Engine:
    """An engine for DATABASE_URL whose checkouts skip connections a restart killed."""
    engine = create_engine(
        settings.sqlalchemy_url, pool_size=pool_size, max_overflow=pool_size, future=True
    )
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _still_there(dbapi_connection: Any, record: object, proxy: object) -> None:
        """Raise InvalidatePoolError (the pool reconnects) if the server closed the connection:
        the `SELECT 1` runs only when the server said something unasked (see the module doc)."""
        if _idle_and_silent(dbapi_connection):
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise InvalidatePoolError(f"connection lost: {exc}") from exc
        if not alive:
            raise InvalidatePoolError("connection lost")

    return engine


def _idle_and_silent(dbapi_connection: Any) -> bool:
    """The psycopg connection is open and its socket has nothing to read (no server message
    arrived while it sat in the pool); False for anything else, which the caller then pings."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None or dbapi_connection.closed:
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN)
        return not poller.poll(0)
    except Exception:  # no socket any more: let the ping decide
        return False


def make_session_factory(
    engine: Engine, *, info: dict[str, object] | None = None
) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (callers read ids after the transaction).

    `info` seeds every session's `info`: process-wide facts a service reads where it writes
    (which event destinations the deployment has, `services.event_outbox.session_info`).
    """
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on error, then run the after-commit callbacks."""
    with factory() as session:
        with session.begin():
            yield session
        callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        callback()


class DriverStatement:
    """A Core statement compiled once to the driver's SQL (psycopg's `%(name)s` placeholders),
    for :func:`run_one` and :func:`run_in`: the Core definition stays the one source of the SQL
    and of how its values are sent.

    The values it spells as literals (state names) become bind parameters when compiled: they
    are kept here and sent with the caller's values. A value whose type converts it for the
    driver (JSONB: a dict wrapped for psycopg) is converted as SQLAlchemy's execute would. No
    expanding `IN` (compiled once, the statement has no list length to render): `= ANY` of an
    array value instead.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: _Compiled | None = None

    def values(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(SQL, the values to send): the literals, then `params`, converted as their types say;
        compiled at first use with the engine's dialect."""
        compiled = self._compile(dialect)
        values = dict(compiled.literals)
        for name, value in params.items():
            values[name] = _processed(compiled.processors, name, value)
        return compiled.sql, values

    def _compile(self, dialect: Dialect) -> _Compiled:
        if self._compiled is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
            processors = {
                name: process
                for name, bind in compiled.binds.items()
                if (process := bind.type.dialect_impl(dialect).bind_processor(dialect))
            }
            literals = {
                name: _processed(processors, name, bind.effective_value)
                for name, bind in compiled.binds.items()
                if not bind.required
            }
            self._compiled = _Compiled(str(compiled), literals, processors)
        return self._compiled


def _processed(processors: Mapping[str, Callable[[Any], Any]], name: str, value: Any) -> Any:
    """`value` as parameter `name`'s type sends it to the driver."""
    process = processors.get(name)
    return value if process is None else process(value)


class _Compiled(NamedTuple):
    sql: str
    literals: dict[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]


@contextmanager
def _driver_errors(
    dialect: Dialect,
    pooled: PoolProxiedConnection,
    sql: str,
    values: Mapping[str, Any],
    discard: Callable[[BaseException | None, bool], None],
) -> Iterator[None]:
    """Raise a failure of the driver in the block as the `DBAPIError` a Connection would have
    raised, after `discard(error, lost)` dealt with the connection: `error` None when the block
    was interrupted mid-protocol (the connection's state is unknown), `lost` when the server is
    gone."""
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, dialect.loaded_dbapi.Error):
            discard(None, False)
            raise
        lost = dialect.is_disconnect(exc, pooled.dbapi_connection, None)
        discard(exc, lost)
        raise DBAPIError.instance(
            sql, values, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost
        ) from exc


def run_one(
    factory: sessionmaker[Session], statement: DriverStatement, params: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """Run `statement` as a transaction of its own; its first row (None when it returns none,
    or returns no rows at all).

    For the dial path's hot statements (the claim, the `sending` mark, the sid write), which load
    no ORM objects and need no after-commit callbacks: each runs on the pooled psycopg connection
    in autocommit, as a server-side prepared statement, so it costs one round trip instead of
    three (BEGIN, the statement, COMMIT) and none of SQLAlchemy's execute and result layers
    (together about 60 % of a statement's worker CPU, `bench/dial_cpu.py`). One statement is
    atomic on its own: a crash leaves it committed or not, as the COMMIT's round trip did.

    The checkout is the pool's, with its liveness check (`make_engine`). A failure is raised as
    the `DBAPIError` a Connection raises, and discards the connection (rare, and its state is
    then never in doubt); a disconnect also invalidates the pool, as a Connection's does.
    """
    engine: Engine = factory.kw["bind"]
    dialect = engine.dialect
    sql, values = statement.values(dialect, params)
    pooled = engine.raw_connection()

    def discard(exc: BaseException | None, lost: bool) -> None:
        if lost:
            engine.pool._invalidate(pooled, exc, _checkin=False)  # what a Connection does
        pooled.invalidate(exc)

    try:
        with _driver_errors(dialect, pooled, sql, values, discard):
            connection = pooled.driver_connection
            connection.autocommit = True  # type: ignore[union-attr]
            cursor = connection.execute(sql, values, prepare=True)  # type: ignore[union-attr]
            row: tuple[Any, ...] | None = cursor.fetchone() if _has_rows(cursor) else None
            connection.autocommit = False  # type: ignore[union-attr]
    finally:
        pooled.close()
    return row


def run_in(
    session: Session, statement: DriverStatement, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Run `statement` in `session`'s transaction, on its psycopg connection; its rows (none
    when it returns no rows at all).

    For the statements the consumer and the dispatcher run in a transaction with ORM work
    (the inbox row's load and write, the contact's history, the do-not-call lookup): a
    prepared statement past SQLAlchemy's execute and result layers, which cost more Python
    than psycopg's own work for the consumer's wide rows (`bench/drain_cpu.py`). The
    session's pending ORM changes are flushed first, as `session.execute` would, so the
    statement sees them. A failure is raised as the `DBAPIError` a Connection raises; the
    connection is invalidated when the server is gone or the protocol was interrupted, so the
    session's rollback discards it.
    """
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    sql, values = statement.values(dialect, params)
    pooled = connection.connection

    def discard(exc: BaseException | None, lost: bool) -> None:
        if exc is None or lost:
            connection.invalidate(exc)

    with _driver_errors(dialect, pooled, sql, values, discard):
        cursor = pooled.driver_connection.execute(sql, values, prepare=True)  # type: ignore[union-attr]
        return cursor.fetchall() if _has_rows(cursor) else []


def _has_rows(cursor: Any) -> bool:
    """The statement returned rows (psycopg: a current result to fetch from); asked of the
    cursor's position, not of its `description`, which builds a column object per column."""
    return cursor.rownumber is not None


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the surrounding :func:`transaction` commits; dropped on rollback."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


@event.listens_for(Session, "do_orm_execute")
def _no_session_sync(state: ORMExecuteState) -> None:
    """Bulk UPDATE/DELETE statements never refresh objects already loaded in the session.

    The engine's conditional UPDATEs (claims, marks, releases) run in short transactions that
    load no objects they change, and SQLAlchemy's default ('auto' → 'evaluate') compiles a
    Python evaluator of the WHERE clause on every call: measured at ~8 % of a worker's CPU.
    """
    if (
        state.is_update or state.is_delete
    ) and "synchronize_session" not in state.execution_options:
        state.update_execution_options(synchronize_session=False)


@event.listens_for(Session, "after_rollback")
def _drop_callbacks(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)
