"""Dial-out bodies the gateway refuses with 400 and a reason naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.simulator.harness import Sim


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": None}, "target"),
        ({"caller": None}, "caller"),
        ({"caller": ""}, "caller"),
        ({"target": "911234567890"}, "target"),
        ({"target": "tel:12ab"}, "target"),
        ({"target": "tel:"}, "target"),
        ({"target": "sip:1234567890"}, "target"),
        ({"target": 911234567890}, "target"),
        ({"machineDetection": "maybe"}, "machineDetection"),
        ({"machineDetection": None, "machinedetection": "on"}, "machineDetection"),
        ({"notifyurl": "/notify/relative"}, "notifyurl"),
        ({"timers": {"noSpeechTimeoutMs": "5s"}}, "timers.noSpeechTimeoutMs"),
        ({"timeoutInMs": -1}, "timeoutInMs"),
        ({"metadata": "John"}, "metadata"),
        ({"notifyHeaders": {"X-Token": 5}}, "notifyHeaders"),
        ({"amdEventsSubscription": "none"}, "amdEventsSubscription"),
    ],
)
def test_invalid_body_is_refused_with_the_field_named(
    sim: Sim, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**sim.body(), **change}.items() if v is not None}
    response = sim.dial(body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["msg"].startswith(f"{field}:")
    stats = sim.control.stats()
    assert stats["placed"] == 0
    assert stats["refused"] == {"invalid_body": 1}


def test_body_that_is_not_json_is_refused(sim: Sim) -> None:
    response = sim.http.post(
        sim.control.dialout_url("bot"), content=b"target=tel:1", headers={"auth": sim.token()}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["errors"][0]["msg"]


@pytest.mark.parametrize(
    "target", ["tel:911234567890", "tel:+911234567890", "sip:1234567890@1.23.45.67:1234"]
)
def test_documented_target_forms_are_accepted(sim: Sim, target: str) -> None:
    assert sim.dial(sim.body(target=target)).status_code == 200


def test_table_spelling_of_machinedetection_is_accepted(sim: Sim) -> None:
    body = sim.body()
    body.pop("machineDetection")
    body["machinedetection"] = "disconnect"
    assert sim.dial(body).status_code == 200
    assert sim.only_call()["machineDetection"] == "disconnect"


def test_absent_notifyurl_places_a_call_that_posts_nothing(sim: Sim) -> None:
    body = sim.body()
    body.pop("notifyurl")
    assert sim.dial(body).status_code == 200
    sim.settle()
    assert sim.only_call()["notifications"] == []
    assert sim.receiver.received == []
