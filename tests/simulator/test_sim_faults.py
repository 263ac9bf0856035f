"""Each injected fault does what a real gateway's misbehaviour would, and the records say so."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest

from tests.simulator.harness import WEBHOOK_SECRET, Sim


def test_duplicate_fault_posts_every_notification_twice(sim: Sim) -> None:
    sim.configure(mix={"human": 1}, faults={"duplicate": {"rate": 1, "delay_ms": 1}})
    assert sim.dial().status_code == 200
    sim.settle()
    statuses = [p["status"] for p in sim.receiver.bodies()]
    assert sorted(statuses) == ["answered", "answered", "completed", "completed"]
    notes = sim.only_call()["notifications"]
    assert [n["duplicate"] for n in notes].count(True) == 2
    copies = [n for n in notes if n["duplicate"]]
    originals = [n for n in notes if not n["duplicate"]]
    assert [c["body"] for c in copies] == [o["body"] for o in originals]


def test_reorder_fault_posts_completed_before_answered(sim: Sim) -> None:
    sim.configure(mix={"human": 1}, faults={"reorder": {"rate": 1, "delay_ms": 200}})
    assert sim.dial().status_code == 200
    sim.settle()
    call = sim.only_call()
    assert [n["status"] for n in call["notifications"]] == ["completed", "answered"]
    assert [p["status"] for p in sim.receiver.bodies()] == ["completed", "answered"]
    assert call["faults"] == ["reorder"]
    assert call["answered_at"] < call["ended_at"]  # the call itself happened in order


@pytest.mark.parametrize(("outcome", "posted"), [("human", ["answered"]), ("busy", [])])
def test_lose_final_fault_never_posts_the_final_notification(
    sim: Sim, outcome: str, posted: list[str]
) -> None:
    sim.configure(mix={outcome: 1}, faults={"lose_final": {"rate": 1}})
    assert sim.dial().status_code == 200
    stats = sim.settle()
    assert [p["status"] for p in sim.receiver.bodies()] == posted
    final = sim.only_call()["notifications"][-1]
    assert final["lost"] is True
    assert final["sent_at"] is None
    assert stats["notifications"]["lost_by_fault"] == 1
    assert sim.only_call()["ended_at"] is not None  # the call ended; only the post is missing


def test_slow_answer_fault_places_the_call_then_answers_late(sim: Sim) -> None:
    sim.configure(faults={"slow_answer": {"rate": 1, "delay_ms": 400}})
    with pytest.raises(httpx.ReadTimeout):
        sim.dial(timeout_s=0.1)
    call = sim.only_call()
    assert call["faults"] == ["slow_answer"]
    started = time.monotonic()
    assert sim.dial().status_code == 200
    assert time.monotonic() - started >= 0.4


def test_5xx_burst_refuses_without_placing_a_call(sim: Sim) -> None:
    sim.configure(faults={"burst_5xx": {"rate": 1, "duration_ms": 0, "status": 502}})
    assert [sim.dial().status_code for _ in range(3)] == [502, 502, 502]
    stats = sim.control.stats()
    assert stats["placed"] == 0
    assert stats["refused"] == {"burst_5xx": 3}


def test_5xx_burst_lasts_its_duration_then_calls_go_through(sim: Sim) -> None:
    sim.configure(faults={"burst_5xx": {"rate": 1, "duration_ms": 1500}})
    started = time.monotonic()
    assert sim.dial().status_code == 503
    sim.configure(faults={"burst_5xx": {"rate": 0}})
    second = sim.dial().status_code
    if time.monotonic() - started < 1.4:
        assert second == 503  # still inside the burst
    time.sleep(max(0.0, 1.6 - (time.monotonic() - started)))
    assert sim.dial().status_code == 200


def test_connection_reset_after_placing_leaves_a_recorded_call(sim: Sim) -> None:
    sim.configure(mix={"busy": 1}, faults={"connection_reset": {"rate": 1, "placed_ratio": 1}})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        sim.dial()
    sim.settle()
    call = sim.only_call()
    assert call["faults"] == ["connection_reset"]
    assert [p["status"] for p in sim.receiver.bodies()] == ["failed"]  # the call went on
    assert sim.control.stats()["accepted"] == 0


def test_connection_reset_before_placing_records_a_refusal_only(sim: Sim) -> None:
    sim.configure(faults={"connection_reset": {"rate": 1, "placed_ratio": 0}})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        sim.dial()
    assert sim.control.calls() == []
    assert sim.control.refused()[0]["reason"] == "connection_reset"
    assert sim.control.refused()[0]["status"] == 0
    sim.configure(faults={"connection_reset": {"rate": 0}})
    assert sim.dial().status_code == 200  # the server itself is fine


def test_signature_header_signs_timestamp_and_body_with_the_webhook_secret(sim: Sim) -> None:
    sim.configure(mix={"busy": 1}, signature={"enabled": True})
    assert sim.dial().status_code == 200
    sim.settle()
    (request,) = sim.receiver.requests("/notify")
    parts = dict(p.split("=", 1) for p in request.headers["savg-signature"].split(","))
    assert abs(int(parts["t"]) - time.time()) < 5
    signed = f"{parts['t']}.".encode() + request.body
    expected = hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)


def test_signature_header_is_absent_by_default(sim: Sim) -> None:
    sim.configure(mix={"busy": 1})
    assert sim.dial().status_code == 200
    sim.settle()
    assert "savg-signature" not in sim.receiver.requests("/notify")[0].headers


def test_failed_delivery_is_not_retried_by_default(sim: Sim) -> None:
    sim.configure(mix={"busy": 1})
    sim.receiver.status = 500
    assert sim.dial().status_code == 200
    stats = sim.settle()
    note = sim.only_call()["notifications"][0]
    assert (note["attempts"], note["status_code"], note["delivered"]) == (1, 500, False)
    assert stats["notifications"]["delivery_failures"] == 1


def test_retries_when_configured_until_the_receiver_accepts(sim: Sim) -> None:
    sim.configure(mix={"busy": 1}, notify={"retries": 2, "retry_delay_ms": 1})
    sim.receiver.status = 503
    assert sim.dial().status_code == 200
    sim.settle()
    note = sim.only_call()["notifications"][0]
    assert (note["attempts"], note["status_code"]) == (3, 503)
    assert len(sim.receiver.requests("/notify")) == 3


def test_unreachable_receiver_is_recorded_as_a_delivery_failure(sim: Sim) -> None:
    sim.configure(mix={"busy": 1})
    body = sim.body()
    body["notifyurl"] = "http://127.0.0.1:9/notify"  # discard port: nothing listens
    assert sim.dial(body).status_code == 200
    stats = sim.settle()
    note = sim.only_call()["notifications"][0]
    assert note["status_code"] is None
    assert note["error"]
    assert stats["notifications"]["delivery_failures"] == 1
