"""Engine, sessions and the caller-owned transaction (style rule 5).

Helpers take a `Session` and never commit; entry points wrap work in :func:`transaction`, and side
effects (Celery sends) are registered with :func:`after_commit` so they never run for a rolled-back
change. The dial path's few hot statements that load no objects run on a bare connection
(:func:`statements`), past the ORM's execute pipeline.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

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


@contextmanager
def statements(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A Core transaction on `factory`'s engine: commit on success, roll back on error.

    For statements that load no ORM objects and need no after-commit callbacks (the dial path's
    claim, `sending` mark and sid write): a Connection runs them without the Session's
    per-statement ORM pipeline (measured at about a third of their CPU).
    """
    engine: Engine = factory.kw["bind"]
    with engine.begin() as connection:
        yield connection


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
