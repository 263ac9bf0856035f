"""The engine's checkout: no round trip on a live pooled connection, a new one for a dead one;
and the driver statements on the same pool: alone (`run_one`, the dial path's) or in a session's
transaction (`run_in`, the consumer's)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, cast, event, func, literal, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from campaign.db.engine import (
    DriverStatement,
    make_engine,
    make_session_factory,
    run_in,
    run_one,
)
from campaign.settings import Settings


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings, pool_size=2)
    yield eng
    eng.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The checkout's `SELECT 1`s (they go to the driver, past the cursor events)."""
    seen: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        seen.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def test_a_live_pooled_connection_is_reused_without_a_round_trip(
    engine: Engine, pings: list[object]
) -> None:
    pid = _backend(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    assert _backend(engine) == pid
    assert statements == ["SELECT pg_backend_pid()"]
    assert pings == []


def test_a_connection_whose_backend_was_terminated_is_replaced_at_checkout(
    engine: Engine, settings: Settings, pings: list[object]
) -> None:
    pids = set()
    with engine.connect() as a, engine.connect() as b:  # two pooled connections
        for conn in (a, b):
            pids.add(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    other = make_engine(settings, pool_size=1)
    try:
        with other.connect() as admin:
            for pid in pids:  # as a restart does: FATAL 57P01, then the socket closes
                admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    finally:
        other.dispose()

    # Both dead connections are replaced (the first one found invalidates the whole pool).
    with engine.connect() as a, engine.connect() as b:
        fresh = {conn.execute(text("SELECT pg_backend_pid()")).scalar_one() for conn in (a, b)}
    assert not fresh & pids
    assert len(pings) == 1  # the dead one found first; the pool's invalidation got the other


_BACKEND = DriverStatement(select(func.pg_backend_pid()))
_BAD = DriverStatement(select(func.pg_backend_pid() / literal(0)))
_SUICIDE = DriverStatement(select(func.pg_terminate_backend(func.pg_backend_pid())))


def test_a_driver_statement_runs_as_its_own_transaction_on_a_pooled_connection(
    engine: Engine, pings: list[object]
) -> None:
    sessions = make_session_factory(engine)
    pid = _backend(engine)

    assert run_one(sessions, _BACKEND, {}) == (pid,)
    with engine.connect() as conn:  # handed back idle, in a transaction of its own again
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
    assert pings == []


def test_a_failed_driver_statement_raises_as_sqlalchemy_does_and_the_pool_goes_on(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)

    with pytest.raises(DBAPIError) as failed:
        run_one(sessions, _BAD, {})
    assert not failed.value.connection_invalidated
    assert run_one(sessions, _BACKEND, {}) is not None


def test_a_backend_lost_under_a_driver_statement_invalidates_the_pool(
    engine: Engine, pings: list[object]
) -> None:
    sessions = make_session_factory(engine)
    with engine.connect() as a, engine.connect() as b:  # two pooled connections
        pids = {conn.execute(text("SELECT pg_backend_pid()")).scalar_one() for conn in (a, b)}

    with pytest.raises(DBAPIError) as failed:  # past the checkout's check: the server goes away
        run_one(sessions, _SUICIDE, {})
    assert failed.value.connection_invalidated

    # Both pooled connections are replaced, with no ping: the pool was invalidated.
    with engine.connect() as a, engine.connect() as b:
        fresh = {conn.execute(text("SELECT pg_backend_pid()")).scalar_one() for conn in (a, b)}
    assert not fresh & pids
    assert pings == []


_ECHO_JSON = DriverStatement(select(cast(bindparam("doc", type_=JSONB), JSONB)["k"].astext))


def test_a_driver_statement_sends_values_as_their_types_say(engine: Engine) -> None:
    sessions = make_session_factory(engine)

    assert run_one(sessions, _ECHO_JSON, {"doc": {"k": "v"}}) == ("v",)  # a dict, as JSONB


_XACT = DriverStatement(select(func.txid_current()))


def test_a_driver_statement_in_a_session_runs_in_its_transaction(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        first = run_in(session, _XACT, {})
        assert run_in(session, _XACT, {}) == first
        assert [tuple(session.execute(select(func.txid_current())).one())] == first
    with sessions() as session, session.begin():
        assert run_in(session, _XACT, {}) != first  # the next transaction


def test_a_failed_driver_statement_in_a_session_rolls_it_back(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    pid = _backend(engine)

    with pytest.raises(DBAPIError) as failed, sessions() as session, session.begin():
        run_in(session, _BAD, {})
    assert not failed.value.connection_invalidated
    assert _backend(engine) == pid  # the connection went back to the pool, usable


def test_a_backend_lost_under_a_driver_statement_in_a_session_discards_its_connection(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    pid = _backend(engine)

    with pytest.raises(DBAPIError) as failed, sessions() as session, session.begin():
        run_in(session, _SUICIDE, {})
    assert failed.value.connection_invalidated
    assert _backend(engine) != pid  # a new connection, not the dead one


class _Interrupted(BaseException):
    """What a signal handler raises in the middle of a query (a worker told to stop, say)."""


@pytest.fixture
def interrupt_in() -> Iterator[Callable[[float], None]]:
    """`interrupt_in(s)`: a SIGALRM in `s` seconds raises `_Interrupted` wherever the main thread
    is then, here inside psycopg's wait for a result (a real interruption, not a mock)."""

    def interrupted(*_: object) -> None:
        raise _Interrupted

    def arm(seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    previous = signal.signal(signal.SIGALRM, interrupted)
    yield arm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


_SLOW = DriverStatement(select(func.pg_sleep(2)))


def _alone(sessions: sessionmaker[Session]) -> None:
    run_one(sessions, _SLOW, {})


def _in_a_session(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        run_in(session, _SLOW, {})


@pytest.mark.parametrize("run", [_alone, _in_a_session])
def test_a_driver_statement_interrupted_mid_query_never_goes_back_to_the_pool(
    engine: Engine,
    interrupt_in: Callable[[float], None],
    run: Callable[[sessionmaker[Session]], None],
) -> None:
    sessions = make_session_factory(engine)
    pid = _backend(engine)

    interrupt_in(0.2)
    with pytest.raises(_Interrupted):
        run(sessions)
    assert _backend(engine) != pid  # its state unknown, the connection was discarded
