"""A placed call is never taken for unplaced because PostgreSQL failed to record its sid.

Found by `make chaos`: PostgreSQL restarting between the gateway's 200 and the commit of the sid
dropped the sid; with every notification lost too (the API cannot store them while PostgreSQL is
down) the silent deadline then settled a placed call as a refused dial-out, and the policy dialed
the person again. The worker now retries the commit, and keeps a receipt in Redis that the
sweeper reads first. The fault (a commit failing at that instant) is injected by failing the
engine's checkouts once the POST has returned (each step of the dial path takes a connection of
its own, some past SQLAlchemy's statement events): PostgreSQL cannot be stopped at that exact
instant on demand.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from campaign.gateway.client import DialAccepted, DialRequest, SavgClient
from campaign.services import dial_records
from campaign.services.dialing import DialDeps, DialResult
from campaign.simulator.control import SimControl
from schedules.sweeper import sweep
from tests.integration.test_dialing import (  # noqa: F401 - fixtures used by name
    Queue,
    _attempt,
    _dial,
    deps,
    queue,
    runtime,
)
from tests.support.runtime import RecordingRuntime


class _Database:
    """While `failures` > 0 each checkout from the deps' engine fails (and counts down), as
    PostgreSQL does while it restarts."""

    def __init__(self, engine: Engine) -> None:
        self.failures = 0
        event.listen(engine, "checkout", self._refuse)

    def _refuse(self, *_: Any) -> None:
        if self.failures > 0:
            self.failures -= 1
            shutting_down = Exception("the database system is shutting down")
            raise OperationalError("UPDATE", None, shutting_down)


Flaky = Callable[[int], tuple[DialDeps, "_Database"]]


class _DownAfterTheAnswer:
    """The real gateway client; PostgreSQL goes away the moment its answer is in."""

    def __init__(self, client: SavgClient, database: _Database, failures: int) -> None:
        self._client = client
        self._database = database
        self._failures = failures

    def dial(self, request: DialRequest) -> DialAccepted:
        accepted = self._client.dial(request)
        self._database.failures = self._failures
        return accepted


@pytest.fixture
def flaky(deps: DialDeps) -> Iterator[Flaky]:  # noqa: F811 - the fixture
    """The deps whose database fails `failures` statements once the gateway has answered."""
    engine: Engine = deps.sessions.kw["bind"]
    made: list[_Database] = []

    def make(failures: int) -> tuple[DialDeps, _Database]:
        database = _Database(engine)
        made.append(database)
        gateway = _DownAfterTheAnswer(deps.gateway, database, failures)
        return replace(deps, gateway=cast(SavgClient, gateway)), database

    yield make
    for database in made:
        event.remove(engine, "checkout", database._refuse)


def test_a_short_outage_after_the_answer_only_delays_the_sid(
    flaky: Flaky,
    runtime: RecordingRuntime,  # noqa: F811 - the fixture
    queue: Queue,  # noqa: F811
) -> None:
    [attempt_id] = queue()
    dialer, _ = flaky(2)

    assert _dial(dialer, attempt_id) is DialResult.sent

    attempt = _attempt(runtime, attempt_id)
    assert attempt.state == "accepted"
    assert attempt.sid is not None


def test_a_placed_call_whose_sid_never_committed_is_lost_not_unplaced(
    flaky: Flaky,
    runtime: RecordingRuntime,  # noqa: F811 - the fixture
    sim: SimControl,
    queue: Queue,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dial_records, "ACCEPT_RETRY_S", 0.3)
    [attempt_id] = queue()
    dialer, database = flaky(10**6)

    assert _dial(dialer, attempt_id) is DialResult.sent  # placed, whatever the database says
    database.failures = 0  # PostgreSQL is back; every notification of the call was lost
    [call] = sim.calls()
    silent = _attempt(runtime, attempt_id).silent_deadline_at
    assert silent is not None
    sweep(runtime, silent + timedelta(milliseconds=500), random.Random(1))

    attempt = _attempt(runtime, attempt_id)
    assert (attempt.state, attempt.outcome, attempt.sid) == ("lost", "lost", call["sid"])
