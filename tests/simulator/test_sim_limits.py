"""The gateway's own capacity: beyond its CPS or live-call limits it refuses before placing."""

from __future__ import annotations

import time

import pytest

from tests.simulator.harness import Sim

LONG_CALLS = {"time_scale": 1.0, "mix": {"human": 1}, "ring_s": {"min": 30, "max": 30}}


def test_account_cps_limit_refuses_the_excess_with_503_and_retry_after(sim: Sim) -> None:
    sim.configure(limits={"account": {"cps": 5}})
    started = time.monotonic()
    responses = [sim.dial() for _ in range(12)]
    elapsed = time.monotonic() - started
    codes = [r.status_code for r in responses]
    stats = sim.control.stats()
    assert stats["max_cps_1s_window"] <= 5
    assert codes.count(200) == stats["placed"]
    assert stats["refused"] == {"account_cps": codes.count(503)}
    if elapsed < 1.0:  # all twelve inside one second: exactly the first five got through
        assert codes == [200] * 5 + [503] * 7
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["reason"] == "account_cps"


def test_cps_limit_frees_up_after_one_second(sim: Sim) -> None:
    sim.configure(limits={"account": {"cps": 2}})
    started = time.monotonic()
    codes = [sim.dial().status_code for _ in range(3)]
    if time.monotonic() - started < 0.9:
        assert codes == [200, 200, 503]
    time.sleep(1.05)
    assert sim.dial().status_code == 200


def test_refusal_status_can_be_429(sim: Sim) -> None:
    sim.configure(limits={"account": {"cps": 1}, "refusal_status": 429, "retry_after_s": None})
    assert sim.dial().status_code == 200
    refused = sim.dial()
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers


def test_account_concurrency_limit_counts_live_calls(sim: Sim) -> None:
    sim.configure(**LONG_CALLS, limits={"account": {"max_concurrent": 3}})
    codes = [sim.dial().status_code for _ in range(5)]
    assert codes == [200, 200, 200, 503, 503]
    stats = sim.control.stats()
    assert (stats["live"], stats["peak_concurrent"]) == (3, 3)
    assert stats["refused"] == {"account_concurrency": 2}


def test_a_slot_frees_when_a_call_ends(sim: Sim) -> None:
    sim.configure(mix={"busy": 1}, limits={"account": {"max_concurrent": 1}})
    for _ in range(3):
        assert sim.dial().status_code == 200
        sim.settle()
    assert sim.control.stats()["peak_concurrent"] == 1


@pytest.mark.parametrize(("trunk", "other"), [("TRUNK-A", "TRUNK-B"), (None, "TRUNK-B")])
def test_trunk_concurrency_limit_applies_to_each_trunk_on_its_own(
    sim: Sim, trunk: str | None, other: str
) -> None:
    sim.configure(**LONG_CALLS, limits={"trunk": {"max_concurrent": 2}})
    extra = {} if trunk is None else {"trunk": trunk}
    codes = [sim.dial(sim.body(**extra)).status_code for _ in range(3)]
    assert codes == [200, 200, 503]
    assert sim.dial(sim.body(trunk=other)).status_code == 200
    stats = sim.control.stats()
    assert stats["refused"] == {"trunk_concurrency": 1}
    assert stats["peak_concurrent_per_trunk"] == {trunk or "default": 2, other: 1}


def test_a_named_trunk_can_have_its_own_cps(sim: Sim) -> None:
    sim.configure(limits={"trunks": {"SLOW": {"cps": 1}}})
    assert [sim.dial(sim.body(trunk="SLOW")).status_code for _ in range(2)] == [200, 503]
    assert sim.dial(sim.body(trunk="FAST")).status_code == 200
    assert sim.control.refused()[0]["reason"] == "trunk_cps"
