"""A rerun with real processes: a completed campaign rerun for `busy` dials the busy contacts, and
only them, again, with the run's own attempt caps. The simulator's records are the witness."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest
from sqlalchemy import select

from campaign.db.tables import AttemptRow, RunRow
from tests import factories
from tests.e2e.conftest import Stack
from tests.e2e.test_closed_loop import _start_campaign, _wait_completed
from tests.support.procs import CAMPAIGN

pytestmark = pytest.mark.e2e


def _dialed(stack: Stack) -> Counter[str]:
    return Counter("+" + c["target"].removeprefix("tel:").lstrip("+") for c in stack.sim.calls())


def test_rerun_for_busy_dials_exactly_the_busy_contacts_again(stack: Stack) -> None:
    phones = factories.us_numbers(12, start=9100)
    busy, machine = phones[:4], phones[4:8]
    stack.sim.reset()
    stack.sim.configure(
        mix={"human": 1},
        scripts={
            "by_number": {**{p: ["busy"] for p in busy}, **{p: ["machine"] for p in machine}},
            "by_suffix": {},
        },
        faults={},
    )
    campaign_id = _start_campaign(stack, phones)
    _wait_completed(stack, campaign_id)
    stack.sim.wait_quiet()
    first = _dialed(stack)
    # BASE_SPEC redials busy twice (delays 1s, 1s): three calls, then exhausted.
    assert first == {p: 3 if p in busy else 1 for p in phones}

    rerun = subprocess.run(
        [*CAMPAIGN, "rerun", str(campaign_id), "--outcomes", "busy", "--json"],
        env={**stack.env_os(), **stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout) == {
        "id": campaign_id,
        "run": 2,
        "reopened": len(busy),
        "outcomes": ["busy"],
    }
    _wait_completed(stack, campaign_id)
    stack.sim.wait_quiet()

    again = _dialed(stack) - first
    assert again == {p: 3 for p in busy}  # attempt caps start afresh with the run
    with stack.runtime.sessions() as session:
        run_two = session.scalars(
            select(RunRow.id).where(RunRow.campaign_id == campaign_id, RunRow.number == 2)
        ).one()
        attempts = session.scalars(
            select(AttemptRow.phone).where(
                AttemptRow.run_id == run_two, AttemptRow.sid.is_not(None)
            )
        ).all()
    assert Counter(attempts) == again  # every call of run 2 is an attempt of run 2
