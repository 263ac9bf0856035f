"""Driving one campaign through a running stack: create it, wait for it, read the witness.

Shared by the pacing and throughput suites so both start campaigns the same way the tests do
(`tests.factories`), and wait on PostgreSQL, never on sleeps.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from bench.env import Stack
from campaign.db.engine import transaction
from campaign.db.tables import CampaignRow, ContactRow
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


def wait_completed(stack: Stack, campaign_id: int, timeout_s: float) -> None:
    """Wait until the campaign is `completed`, checking that no process of the stack died."""
    deadline = time.monotonic() + timeout_s
    while campaign_state(stack, campaign_id) != "completed":
        stack.check_alive()
        if time.monotonic() > deadline:
            left = open_contacts(stack, campaign_id)
            raise TimeoutError(
                f"campaign {campaign_id} not completed after {timeout_s:.0f}s "
                f"({left} contacts open); logs in {stack.log_dir}"
            )
        time.sleep(0.2)


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
