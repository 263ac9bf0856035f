"""The engine's checkout: no round trip on a live pooled connection, a new one for a dead one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from campaign.db.engine import make_engine
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
