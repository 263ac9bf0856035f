"""Faults with real processes: a killed worker or a wiped Redis loses nothing, dials none twice."""

from __future__ import annotations

import time

import pytest
import redis

from tests import factories
from tests.e2e.conftest import Stack
from tests.e2e.test_closed_loop import (
    CPS,
    _assert_limits_held,
    _calls_by_attempt,
    _contact_states,
    _start_campaign,
    _wait_completed,
)

pytestmark = pytest.mark.e2e


def _human_only(stack: Stack) -> None:
    stack.sim.reset()
    stack.sim.configure(mix={"human": 1}, scripts={"by_number": {}, "by_suffix": {}}, faults={})


def _assert_nothing_lost(stack: Stack, campaign_id: int, count: int) -> None:
    calls = stack.sim.calls()
    assert max(_calls_by_attempt(stack, calls).values()) == 1
    _assert_limits_held(stack)
    assert _contact_states(stack, campaign_id) == {"done": count}


def test_killed_worker_loses_no_contact_and_dials_no_one_twice(stack: Stack) -> None:
    _human_only(stack)
    phones = factories.us_numbers(120, start=20000)
    campaign_id = _start_campaign(stack, phones)
    time.sleep(2)  # mid-campaign, with tasks in the worker's hands
    stack.procs["worker1"].kill()
    try:
        _wait_completed(stack, campaign_id, timeout_s=90)
        _assert_nothing_lost(stack, campaign_id, len(phones))
    finally:
        stack.start_worker("worker1")


def test_wiped_redis_loses_no_contact_and_breaks_no_limit(stack: Stack) -> None:
    _human_only(stack)
    phones = factories.us_numbers(120, start=30000)
    campaign_id = _start_campaign(stack, phones)
    time.sleep(2)
    redis.Redis.from_url(stack.settings.redis_url or "").flushdb()  # broker, leases, buckets: gone

    _wait_completed(stack, campaign_id, timeout_s=90)
    _assert_nothing_lost(stack, campaign_id, len(phones))
    assert CPS  # the stats above were judged against the campaign's own cps
