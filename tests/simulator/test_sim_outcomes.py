"""Each outcome plays out as the vendor page shows it: notifications, their fields and timing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.simulator.harness import Sim, same_bodies

VENDOR_TIME = re.compile(r"^\d{1,2}/\d{1,2}/\d{4},\d{1,2}:\d{2}:\d{2}(AM|PM)$")
MACHINE_VERDICTS = {"amd_machine_detected", "amd_machine_stopped_speaking", "amd_tone_detected"}


def _play(sim: Sim, outcome: str, **body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Dial once with every call set to `outcome`; return the call record and the bodies posted,
    in the order they were sent (posts run concurrently, so arrival order is not promised)."""
    sim.configure(mix={outcome: 1})
    response = sim.dial(sim.body(**body))
    assert response.status_code == 200
    sim.settle()
    call = sim.only_call()
    sent = [n["body"] for n in call["notifications"]]
    assert same_bodies(sent, sim.receiver.bodies())
    return call, sent


@pytest.mark.parametrize(
    ("outcome", "reason", "reason_code"),
    [
        ("busy", "486 Busy Here", "Busy Here"),
        ("unavailable", "503 Service Unavailable", "Service Unavailable"),
        ("failed_other", "404 Not Found", "Not Found"),
        ("no_answer", "487 Request Terminated", "Request Terminated"),
    ],
)
def test_unanswered_call_posts_one_failed_with_the_sip_reason(
    sim: Sim, outcome: str, reason: str, reason_code: str
) -> None:
    call, posted = _play(sim, outcome)
    assert posted == [
        {
            "conversationId": call["callId"],
            "status": "failed",
            "reason": reason,
            "reasonCode": reason_code,
            "machinedetection": "detect",  # the configured mode, echoed as in the seed
            "callconnecttime": posted[0]["callconnecttime"],
            "callDisconnectTime": posted[0]["callconnecttime"],
        }
    ]
    assert VENDOR_TIME.match(posted[0]["callconnecttime"])
    assert call["outcome"] == outcome
    assert call["answered_at"] is None
    assert call["ended_at"] >= call["placed_at"]


@pytest.mark.parametrize("reason", ["480 Temporarily Unavailable", "603 Decline"])
def test_rejected_call_fails_with_the_configured_sip_reason(sim: Sim, reason: str) -> None:
    sim.configure(sip_reasons={"rejected": [reason]})
    _, posted = _play(sim, "rejected")
    assert [(p["status"], p["reason"]) for p in posted] == [("failed", reason)]


def test_no_answer_rings_until_the_requested_ring_timeout(sim: Sim) -> None:
    sim.configure(time_scale=0.01)
    call, posted = _play(sim, "no_answer", timeoutInMs=20000)
    assert call["ended_at"] - call["placed_at"] >= 0.2  # 20 simulated seconds at 0.01
    assert posted[0]["reason"].startswith("487")


def test_human_call_posts_answered_then_completed_with_the_amd_verdict(sim: Sim) -> None:
    call, posted = _play(sim, "human")
    assert [p["status"] for p in posted] == ["answered", "completed"]
    answered, completed = posted
    assert answered["conversationId"] == completed["conversationId"] == call["callId"]
    assert answered["reason"] == "200 OK"
    assert completed["reason"] == "200 OK"
    assert completed["reasonCode"] in {"caller-disconnected", "Bot-disconnected"}
    assert completed["machinedetection"] == "amd_human_detected"
    assert isinstance(completed["duration"], int)
    assert VENDOR_TIME.match(completed["callDisconnectTime"])
    assert call["placed_at"] < call["answered_at"] < call["ended_at"]


def test_human_call_without_detection_reports_detection_disabled(sim: Sim) -> None:
    _, posted = _play(sim, "human", machineDetection="disabled")
    assert posted[-1]["machinedetection"] == "disabled"


def test_machine_in_disconnect_mode_is_hung_up_by_the_gateway_at_the_verdict(sim: Sim) -> None:
    sim.configure(talk_s={"min": 50, "max": 60}, amd_decision_s={"min": 1, "max": 3})
    call, posted = _play(sim, "machine", machineDetection="disconnect")
    completed = posted[-1]
    assert completed["status"] == "completed"
    assert completed["reasonCode"] == "SAVG-disconnected"
    assert completed["machinedetection"] in MACHINE_VERDICTS
    assert completed["duration"] <= 3  # ended at the verdict, not after the 50 s talk time
    assert call["ended_by"] == "gateway"


def test_machine_in_detect_mode_talks_on_then_the_gateway_hangs_up(sim: Sim) -> None:
    sim.configure(talk_s={"min": 50, "max": 60})
    _, posted = _play(sim, "machine", machineDetection="detect")
    assert posted[-1]["reasonCode"] == "SAVG-disconnected"
    assert posted[-1]["duration"] >= 50


@pytest.mark.parametrize(
    ("outcome", "timer", "verdict"),
    [
        ("no_speech", "noSpeechTimeoutMs", "amd_no_speech_detected"),
        ("undecided", "decisionTimeoutMs", "amd_decision_timeout"),
    ],
)
def test_timer_verdicts_come_at_the_requested_amd_timer(
    sim: Sim, outcome: str, timer: str, verdict: str
) -> None:
    sim.configure(amd_results={"undecided": ["amd_decision_timeout"]})
    _, posted = _play(sim, outcome, machineDetection="disconnect", timers={timer: 7000})
    assert posted[-1]["machinedetection"] == verdict
    assert posted[-1]["duration"] == 7


def test_newer_dialect_uses_capitals_string_durations_and_amd_events(sim: Sim) -> None:
    sim.configure(dialect="newer", sip_reasons={"busy": ["486 Busy Here"]})
    call, posted = _play(sim, "machine", machineDetection="disconnect")
    # The AMD event and the hang-up come at the same instant, in either order.
    assert sorted(p["status"] for p in posted) == ["Answered", "Call-In-Progress", "Completed"]
    progress = next(p for p in posted if p["status"] == "Call-In-Progress")
    completed = next(p for p in posted if p["status"] == "Completed")
    assert progress["machinedetection"] == completed["machinedetection"] == call["amd"]
    assert completed["reasonCode"] == "KoreVG-disconnected"
    assert completed["duration"] == str(completed["callDuration"])
    assert "callDisconnecttime" in completed
    assert completed["sessionId"] == call["sid"]
    assert {"ringDurationInMS", "connectDurationInMS"} <= set(completed)


def test_newer_dialect_sends_no_amd_events_to_an_empty_subscription(sim: Sim) -> None:
    sim.configure(dialect="newer")
    _, posted = _play(sim, "human", amdEventsSubscription=[])
    assert [p["status"] for p in posted] == ["Answered", "Completed"]
    assert posted[-1]["reasonCode"] in {"Caller-disconnected", "Bot-disconnected"}


def test_newer_dialect_spells_busy_here_in_lower_case(sim: Sim) -> None:
    sim.configure(dialect="newer")
    _, posted = _play(sim, "busy")
    assert (posted[0]["status"], posted[0]["reasonCode"]) == ("Failed", "Busy here")


def test_mixed_dialect_sends_both_shapes(sim: Sim) -> None:
    sim.configure(dialect="mixed", mix={"busy": 1})
    for _ in range(24):
        assert sim.dial().status_code == 200
    sim.settle()
    assert {p["status"] for p in sim.receiver.bodies()} == {"failed", "Failed"}


@pytest.mark.parametrize("mode", ["call_id", "sid", "fresh"])
def test_conversation_id_follows_the_configured_relation(sim: Sim, mode: str) -> None:
    sim.configure(conversation_id=mode)
    call, posted = _play(sim, "human")
    ids = {p["conversationId"] for p in posted}
    assert ids == {call["conversationId"]}
    expected = {"call_id": call["callId"], "sid": call["sid"]}.get(mode)
    if expected is None:
        assert call["conversationId"] not in (call["sid"], call["callId"])
    else:
        assert call["conversationId"] == expected


def test_notify_headers_are_echoed_on_every_notification(sim: Sim) -> None:
    _play(sim, "human", notifyHeaders={"X-Campaign": "renewals", "Authorization": "Bearer abc"})
    requests = sim.receiver.requests("/notify")
    assert len(requests) == 2
    for request in requests:
        assert request.headers["x-campaign"] == "renewals"
        assert request.headers["authorization"] == "Bearer abc"
        assert request.headers["content-type"] == "application/json"


def test_connect_and_disconnect_times_differ_by_the_reported_duration(sim: Sim) -> None:
    sim.configure(talk_s={"min": 125, "max": 125})
    _, posted = _play(sim, "human")
    completed = posted[-1]
    assert completed["duration"] == 125
    assert completed["callconnecttime"] != completed["callDisconnectTime"]
