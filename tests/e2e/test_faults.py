"""Faults with real processes: killed workers, a sick gateway, a dead receiver, reset connections.

The simulator's records are the witness: with every contact answered by a person, the policy says
each number is called exactly once, so "lost nothing, dialed no one twice" reads off its calls.
Servers restarting (PostgreSQL, Redis) are in `test_server_restarts.py`, on servers the test owns.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from campaign.db.tables import AttemptRow
from tests import factories
from tests.e2e.conftest import Stack
from tests.e2e.test_closed_loop import (
    _assert_limits_held,
    _calls_by_attempt,
    _contact_states,
    _start_campaign,
    _wait_completed,
)
from tests.support.procs import wait_for

pytestmark = pytest.mark.e2e


def _human_only(stack: Stack, **faults: Any) -> None:
    stack.sim.reset()
    stack.sim.configure(
        mix={"human": 1},
        scripts={"by_number": {}, "by_suffix": {}},
        faults={
            "duplicate": {"rate": 0.0},
            "reorder": {"rate": 0.0},
            "lose_final": {"rate": 0.0},
            "burst_5xx": {"rate": 0.0},
            "connection_reset": {"rate": 0.0},
            **faults,
        },
    )


def _attempts_of(stack: Stack, phones: list[str]) -> str:
    """Every attempt of these numbers, as the engine recorded it: says why a number was called
    again or never."""
    with stack.runtime.sessions() as session:
        rows = session.scalars(
            select(AttemptRow).where(AttemptRow.phone.in_(phones)).order_by(AttemptRow.id)
        ).all()
    posted = {
        c["sid"]: [(n["status"], n["status_code"], n["error"]) for n in c["notifications"]]
        for c in stack.sim.calls()
    }
    fields = ("phone", "number", "state", "outcome", "sid", "decision", "error", "dial_tries")
    return "".join(
        " ".join(f"{f}={getattr(a, f)!r}" for f in fields)
        + f" sent={a.sending_at} accepted={a.accepted_at} ended={a.ended_at}"
        + f" notifications={posted.get(a.sid)}\n"
        for a in rows
    )


def _assert_each_called_once(
    stack: Stack, campaign_id: int, phones: list[str], **limits: int
) -> None:
    calls = stack.sim.calls()
    per_number = Counter("+" + c["target"].removeprefix("tel:") for c in calls)
    never = [p for p in phones if p not in per_number]
    twice = {p: n for p, n in per_number.items() if n > 1}
    assert (never, twice) == ([], {}), _attempts_of(stack, [*never, *twice]) + stack.logs()
    assert max(_calls_by_attempt(stack, calls).values()) == 1
    _assert_limits_held(stack, **limits)
    assert _contact_states(stack, campaign_id) == {"done": len(phones)}


def test_workers_killed_20_times_while_pacing_call_every_contact_exactly_once(
    stack: Stack,
) -> None:
    # 2 cps for 50 contacts: threads spend most of their time sleeping out pacing slots, where
    # a kill used to strand a contact in `sending` with nothing posted.
    _human_only(stack)
    phones = factories.us_numbers(50, start=20000)
    campaign_id = _start_campaign(stack, phones, cps=2, max_live=10)
    rng = random.Random(11)
    try:
        for kill in range(20):
            time.sleep(rng.uniform(0.4, 1.4))
            name = f"worker{kill % 2 + 1}"
            stack.procs[name].kill()
            stack.start_worker(name)
        _wait_completed(stack, campaign_id, timeout_s=150)
    finally:
        for name in ("worker1", "worker2"):
            if not stack.procs[name].alive():
                stack.start_worker(name)
    _assert_each_called_once(stack, campaign_id, phones, cps=2, max_live=10)


def test_gateway_500s_for_20s_hold_the_campaign_then_it_recovers_by_itself(
    stack: Stack,
) -> None:
    _human_only(stack, burst_5xx={"rate": 1.0, "status": 500, "duration_ms": 20000})
    phones = factories.us_numbers(40, start=40000)
    campaign_id = _start_campaign(stack, phones)

    def refused() -> int:
        return int(stack.sim.stats()["refused"].get("burst_5xx", 0))

    wait_for(lambda: refused() > 0, 30, what="the first 500")
    stack.sim.configure(faults={"burst_5xx": {"rate": 0.0}})  # the burst runs its 20 s

    def holding() -> bool:
        status = stack.runtime.read_breaker(None)
        return status.open

    wait_for(holding, 10, what="the gateway breaker to open")
    when_open = refused()
    _wait_completed(stack, campaign_id, timeout_s=120)

    # A probe every few seconds, not a 500 per contact: the breaker held the campaign.
    assert refused() - when_open < 12
    _assert_each_called_once(stack, campaign_id, phones)


def test_receiver_down_for_10s_while_calls_end_strands_no_attempt(stack: Stack) -> None:
    _human_only(stack)
    phones = factories.us_numbers(60, start=50000)
    campaign_id = _start_campaign(stack, phones, cps=6, max_live=10)
    time.sleep(2)
    stack.procs["api"].kill()  # every notification posted in the next 10 s is lost
    time.sleep(10)
    stack.start_api()

    _wait_completed(stack, campaign_id, timeout_s=120)

    calls = stack.sim.calls()
    per_number = Counter("+" + c["target"].removeprefix("tel:") for c in calls)
    assert set(per_number) == set(phones)  # nobody left uncalled
    assert max(_calls_by_attempt(stack, calls).values()) == 1
    _assert_limits_held(stack, cps=6, max_live=10)
    # Calls whose every notification was lost are `lost` (final by this policy after its one
    # redial), never open: the silent deadline settled them instead of a 30-minute wait.
    states = _contact_states(stack, campaign_id)
    assert set(states) <= {"done", "exhausted"}
    assert sum(states.values()) == len(phones)


def test_connections_reset_after_the_call_was_placed_never_dial_twice(stack: Stack) -> None:
    _human_only(stack, connection_reset={"rate": 0.02, "placed_ratio": 1.0})
    phones = factories.us_numbers(150, start=60000)
    campaign_id = _start_campaign(stack, phones)

    _wait_completed(stack, campaign_id, timeout_s=120)

    _assert_each_called_once(stack, campaign_id, phones)
