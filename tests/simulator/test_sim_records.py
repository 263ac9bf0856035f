"""The records and stats are an exact witness of what was asked for and what was posted."""

from __future__ import annotations

import time

import pytest

from campaign.errors import InvalidInput
from tests.simulator.harness import BOT, Sim, same_bodies

LONG_CALLS = {"time_scale": 1.0, "mix": {"human": 1}, "ring_s": {"min": 30, "max": 30}}


def test_every_placed_call_is_recorded_with_what_was_sent(sim: Sim) -> None:
    sent = []
    for i in range(6):
        body = sim.body(
            target=f"tel:+4477009000{i % 3}",
            path=f"/notify/{i}",
            trunk=f"T{i % 2}",
            metadata={"userName": f"Contact {i}"},
        )
        response = sim.dial(body)
        assert response.status_code == 200
        sent.append((body, response.json()))
    sim.settle()
    calls = sim.control.calls()
    assert len(calls) == 6
    for call, (body, ids) in zip(calls, sent, strict=True):
        assert (call["sid"], call["callId"]) == (ids["sid"], ids["callId"])
        for key in ("target", "trunk", "caller", "notifyurl", "metadata"):
            assert call[key] == body[key]
        assert call["bot"] == BOT
        assert call["placed_at"] <= (call["answered_at"] or call["ended_at"]) <= call["ended_at"]
        path = body["notifyurl"].removeprefix(sim.receiver_url)
        assert same_bodies([n["body"] for n in call["notifications"]], sim.receiver.bodies(path))
        assert all(n["delivered"] and n["status_code"] == 200 for n in call["notifications"])


def test_stats_count_calls_per_second_and_per_number(sim: Sim) -> None:
    for target in ["tel:+15550100", "tel:+15550100", "sip:15550101@10.0.0.1:5060"]:
        assert sim.dial(sim.body(target=target)).status_code == 200
    assert sim.dial(no_auth=True).status_code == 401
    stats = sim.settle()
    assert stats["placed"] == stats["accepted"] == 3
    assert sum(n for _, n in stats["cps_buckets"]) == 3
    assert stats["max_cps_1s_window"] in (1, 2, 3)
    assert stats["calls_per_number"] == {"15550100": 2, "15550101": 1}
    assert stats["refused"] == {"missing_token": 1}
    assert stats["live"] == 0
    sent = stats["notifications"]["sent"]
    assert sent == len(sim.receiver.received) == stats["notifications"]["delivered"]


def test_two_live_calls_to_one_number_count_as_an_overlap(sim: Sim) -> None:
    sim.configure(**LONG_CALLS)
    for target in ["tel:+15550100", "tel:+15550100", "tel:+15550199", "tel:+15550100"]:
        assert sim.dial(sim.body(target=target)).status_code == 200
    stats = sim.control.stats()
    assert stats["overlaps"] == 3  # three calls to one number: three pairs
    assert stats["peak_concurrent"] == stats["live"] == 4


def test_sequential_calls_to_one_number_do_not_overlap(sim: Sim) -> None:
    sim.configure(mix={"busy": 1})
    for _ in range(3):
        assert sim.dial().status_code == 200
        sim.settle()
    stats = sim.control.stats()
    assert (stats["overlaps"], stats["peak_concurrent"]) == (0, 1)


def test_reset_clears_records_and_cancels_live_calls(sim: Sim) -> None:
    sim.configure(**LONG_CALLS)
    assert sim.dial().status_code == 200
    sim.control.reset()
    stats = sim.control.stats()
    assert (stats["placed"], stats["live"], stats["pending_events"]) == (0, 0, 0)
    assert sim.control.calls() == []
    assert sim.control.config().time_scale == 1.0  # the config survives a reset


def test_time_scale_runs_simulated_seconds_as_scaled_wall_time(sim: Sim) -> None:
    step = {"outcome": "human", "ring_s": 10, "talk_s": 20}
    sim.configure(time_scale=0.01, scripts={"by_number": {"15550100": [step]}})
    started = time.monotonic()
    assert sim.dial().status_code == 200
    sim.settle()
    assert time.monotonic() - started < 1.5
    call = sim.only_call()
    assert 0.1 <= call["answered_at"] - call["placed_at"] < 0.3
    assert 0.2 <= call["ended_at"] - call["answered_at"] < 0.4
    assert sim.receiver.bodies()[-1]["duration"] == 20  # simulated seconds on the wire


def test_config_patch_merges_and_put_replaces(sim: Sim) -> None:
    sim.configure(faults={"duplicate": {"rate": 0.5}}, mix={"busy": 2, "human": 1})
    config = sim.control.config()
    assert config.faults.duplicate.rate == 0.5
    assert config.faults.duplicate.delay_ms == 5.0  # untouched sibling kept
    assert set(config.mix) == {"busy", "human"}  # a given mix replaces the whole mix
    config = sim.control.replace_config({"time_scale": 0.5})
    assert config.faults.duplicate.rate == 0.0
    assert config.time_scale == 0.5


@pytest.mark.parametrize(
    "patch",
    [
        {"mix": {"busy": -1}},
        {"mix": {"sometimes": 1}},
        {"time_scale": 0},
        {"faults": {"duplicate": {"rate": 2}}},
        {"sip_reasons": {"busy": ["busy"]}},
        {"ring_s": {"min": 5, "max": 1}},
        {"no_such_knob": True},
    ],
)
def test_invalid_config_is_refused_and_the_running_one_kept(
    sim: Sim, patch: dict[str, object]
) -> None:
    before = sim.control.config()
    with pytest.raises(InvalidInput):
        sim.configure(**patch)
    assert sim.control.config() == before
