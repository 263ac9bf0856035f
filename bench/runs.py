"""Driving one campaign through a running stack: create it, wait for it, read the witness.

Shared by the pacing and throughput suites so both start campaigns the same way the tests do
(`tests.factories`), and wait on PostgreSQL, never on sleeps.
"""

from __future__ import annotations

import time
from typing import Any

from psycopg.errors import DeadlockDetected
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from bench.env import Stack
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.domain.states import AttemptState
from campaign.services import lifecycle
from tests import factories

# The simulated world of the pacing runs: every call answered by a person within 1-2 simulated
# seconds, 5-30 s of talk, scaled so a call lasts 60-320 ms of wall time.
PACING_SIM: dict[str, Any] = {
    "time_scale": 0.01,
    "mix": {"human": 1},
    "ring_s": {"min": 1, "max": 2},
    "talk_s": {"min": 5, "max": 30},
    "limits": {"account": {"cps": None, "max_concurrent": None}},
}


def start_campaign(
    stack: Stack,
    phones: list[str],
    *,
    cps: float,
    max_live: int,
    retry: dict[str, Any] | None = None,
) -> int:
    """A running campaign with `phones` all due now; returns its id."""
    overrides: dict[str, Any] = {
        "pacing": {"cps": cps, "max_live_calls": max_live, "max_call_duration": "2s"}
    }
    if retry is not None:
        overrides["retry"] = retry
    with transaction(stack.runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, factories.spec(**overrides))
        factories.add_contacts(session, campaign_id, phones)
    return campaign_id


def campaign_state(stack: Stack, campaign_id: int) -> str:
    with stack.runtime.sessions() as session:
        return session.get_one(CampaignRow, campaign_id).state


def open_contacts(stack: Stack, campaign_id: int) -> int:
    """Contacts not yet closed (pending or in flight)."""
    with stack.runtime.sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(ContactRow)
            .where(
                ContactRow.campaign_id == campaign_id,
                ContactRow.state.in_(["pending", "in_flight"]),
            )
        )
    return int(count or 0)


def wait_completed(stack: Stack, campaign_id: int, timeout_s: float) -> bool:
    """Wait until the campaign is `completed` (True) or `timeout_s` passed (False), checking that
    no process of the stack died."""
    deadline = time.monotonic() + timeout_s
    while campaign_state(stack, campaign_id) != "completed":
        stack.check_alive()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def finish(stack: Stack, campaign_id: int, timeout_s: float) -> int:
    """Let the campaign complete within `timeout_s`, else cancel it so it dials nothing more
    into the next run; returns how many contacts were still open (0: it completed)."""
    if wait_completed(stack, campaign_id, timeout_s):
        return 0
    left = open_contacts(stack, campaign_id)
    for tries in range(1, 6):
        try:
            with transaction(stack.runtime.sessions) as session:
                lifecycle.cancel(session, campaign_id, now=utcnow())
            break
        except DBAPIError as exc:  # the engine's cancel can deadlock with a dispatcher's claim
            if tries == 5 or not isinstance(exc.orig, DeadlockDetected):
                raise
            print(f"campaign {campaign_id}: cancel deadlocked ({tries}), trying again")
    print(f"campaign {campaign_id}: cancelled with {left} contacts open after {timeout_s:.0f} s")
    return left


# Not `sending`: a POST in flight takes milliseconds, and one whose answer was lost waits for its
# silent deadline (a minute or more), which no run should wait for.
_UNSETTLED = [
    s.value
    for s in (
        AttemptState.QUEUED,
        AttemptState.DIALING,
        AttemptState.ACCEPTED,
        AttemptState.ANSWERED,
    )
]


def unsettled_attempts(stack: Stack, campaign_id: int) -> int:
    """The campaign's attempts that still have work coming: a dial task to run (queued,
    dialing) or a final to apply (accepted, answered)."""
    with stack.runtime.sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(AttemptRow)
            .where(AttemptRow.campaign_id == campaign_id, AttemptRow.state.in_(_UNSETTLED))
        )
    return int(count or 0)


def settle(stack: Stack, campaign_id: int, timeout_s: float = 60) -> None:
    """Wait (up to `timeout_s`) until a finished or cancelled campaign has no attempt with work
    still coming, and say so when some is left.

    A run cut short by `finish` leaves hundreds of queued dial tasks, which the workers then
    release one by one, and calls whose finals are still to be applied. Waiting here keeps that
    work out of the next run: unwaited, it landed in the next run's CPU window (charged to the
    wrong run's attempts: 2-3 CPU-ms per attempt on a slow host) and competed with its calls.
    """
    deadline = time.monotonic() + timeout_s
    while (left := unsettled_attempts(stack, campaign_id)) and time.monotonic() < deadline:
        stack.check_alive()
        time.sleep(0.2)
    if left:
        print(f"campaign {campaign_id}: {left} attempts still unsettled after {timeout_s:.0f} s")


def wait_dialed(stack: Stack, numbers: int, timeout_s: float) -> bool:
    """Wait until the simulator has seen a call to `numbers` distinct numbers (False: timed out)."""
    deadline = time.monotonic() + timeout_s
    while len(stack.sim.stats()["calls_per_number"]) < numbers:
        stack.check_alive()
        if time.monotonic() > deadline:
            print(f"only some of {numbers} numbers were dialed within {timeout_s:.0f} s")
            return False
        time.sleep(0.2)
    return True


def wait_logged(stack: Stack, names: list[str], text: str, timeout_s: float = 60) -> None:
    """Wait until each named process has written `text` in its log (e.g. Celery's "ready.")."""
    deadline = time.monotonic() + timeout_s
    for name in names:
        proc = stack.procs[name]
        while text not in proc.log_path.read_text(errors="replace"):
            stack.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} never logged {text!r}:\n{proc.tail()}")
            time.sleep(0.1)


def start_loop(stack: Stack, workers: int, concurrency: int, dispatchers: int) -> None:
    """The closed loop's processes: the simulator, the API, `workers` Celery workers of
    `concurrency` threads and `dispatchers` dispatchers; returns once every worker is ready."""
    stack.start_simulator()
    stack.start_api()
    stack.start_workers(workers, concurrency)
    stack.start_dispatchers(dispatchers)
    wait_logged(stack, [f"worker{i}" for i in range(1, workers + 1)], " ready.")
