"""Outcomes can be scripted per number so a test can assert exact retry behaviour."""

from __future__ import annotations

import time

from tests.simulator.harness import Sim


def _outcomes(sim: Sim, target: str, n: int) -> list[str]:
    """Dial `target` `n` more times; the outcomes of every call to it so far."""
    for _ in range(n):
        assert sim.dial(sim.body(target=target)).status_code == 200
    return [c["outcome"] for c in sim.control.calls(number=target)]


def test_sequence_gives_the_nth_call_the_nth_outcome_and_repeats_the_last(sim: Sim) -> None:
    script = {"+1 555 0100": ["busy", "busy", "human"]}
    sim.configure(mix={"busy": 1}, scripts={"by_number": script})
    assert _outcomes(sim, "tel:+15550100", 5) == ["busy", "busy", "human", "human", "human"]


def test_sequence_is_per_number(sim: Sim) -> None:
    sim.configure(mix={"busy": 1}, scripts={"by_number": {"15550100": ["no_answer", "human"]}})
    assert _outcomes(sim, "tel:+15550100", 1) == ["no_answer"]
    assert _outcomes(sim, "tel:+15550199", 1) == ["busy"]
    assert _outcomes(sim, "tel:+15550100", 2) == ["no_answer", "human", "human"]


def test_suffix_rule_fixes_the_outcome_of_matching_numbers(sim: Sim) -> None:
    sim.configure(mix={"human": 1}, scripts={"by_suffix": {"486": "busy", "0486": "rejected"}})
    assert _outcomes(sim, "tel:+15551486", 2) == ["busy", "busy"]
    assert _outcomes(sim, "tel:+15550486", 1) == ["rejected"]  # the longest suffix wins
    assert _outcomes(sim, "tel:+15550487", 1) == ["human"]


def test_sequence_wins_over_a_suffix_rule(sim: Sim) -> None:
    sim.configure(
        scripts={"by_suffix": {"486": "busy"}, "by_number": {"15550486": ["human"]}},
    )
    assert _outcomes(sim, "tel:+15550486", 1) == ["human"]


def test_a_step_can_pin_times_and_wire_values(sim: Sim) -> None:
    step = {"outcome": "rejected", "ring_s": 7, "reason": "603 Decline"}
    sim.configure(scripts={"by_number": {"15550100": [step]}})
    assert sim.dial().status_code == 200
    sim.settle()
    (failed,) = sim.receiver.bodies()
    assert (failed["reason"], failed["reasonCode"]) == ("603 Decline", "Decline")


def test_refused_dial_outs_do_not_advance_a_sequence(sim: Sim) -> None:
    sim.configure(
        scripts={"by_number": {"15550100": ["busy", "human"]}},
        limits={"account": {"cps": 1}},
    )
    assert [sim.dial().status_code for _ in range(2)] == [200, 503]
    time.sleep(1.05)
    assert sim.dial().status_code == 200
    assert [c["outcome"] for c in sim.control.calls()] == ["busy", "human"]


def test_mix_draws_every_configured_outcome(sim: Sim) -> None:
    sim.configure(mix={"human": 1, "busy": 1, "no_answer": 1})
    for i in range(60):
        assert sim.dial(sim.body(target=f"tel:+1555{i:07d}")).status_code == 200
    counts = sim.control.stats()["outcomes"]
    assert set(counts) == {"human", "busy", "no_answer"}
    assert all(n >= 5 for n in counts.values())


def test_a_step_can_post_the_bots_disposition_to_the_url_in_the_metadata(sim: Sim) -> None:
    body = {"disposition": "callback", "at": "2026-12-01T17:00"}
    step = {"outcome": "human", "talk_s": 5, "disposition": {"at_s": 2, "body": body}}
    sim.configure(scripts={"by_number": {"15550100": [step]}})
    metadata = {"campaign": {"disposition_url": f"{sim.receiver_url}/disposition/t"}}
    assert sim.dial(sim.body(metadata=metadata)).status_code == 200
    sim.settle()
    assert sim.receiver.bodies("/disposition/t") == [body]
    (posted,) = sim.only_call()["dispositions"]
    assert (posted["status"], posted["delivered"]) == ("disposition", True)
    final = [n["sent_at"] for n in sim.only_call()["notifications"] if n["status"] != "answered"]
    assert posted["sent_at"] < max(final)  # during the call: before the final


def test_a_disposition_without_a_url_in_the_metadata_is_recorded_as_not_sent(sim: Sim) -> None:
    step = {"outcome": "busy", "disposition": {"body": {"disposition": "done"}}}
    sim.configure(scripts={"by_number": {"15550100": [step]}})
    assert sim.dial().status_code == 200
    sim.settle()
    (posted,) = sim.only_call()["dispositions"]
    assert posted["error"] == "no metadata.campaign.disposition_url in the dial-out"
