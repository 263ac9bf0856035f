"""The `auth` JWT is checked as a SAVG JWT app would: signature, appId, expiry, jti replay."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.simulator.harness import Sim


def _refused(sim: Sim, token: str | None) -> str:
    response = sim.dial(token=token, no_auth=token is None)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["code"] == 401
    return str(body["reason"])


def test_valid_token_places_a_call_and_answers_two_uuids(sim: Sim) -> None:
    response = sim.dial()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"sid", "callId"}
    for value in (body["sid"], body["callId"]):
        assert uuid.UUID(value).version == 4
    assert sim.only_call()["sid"] == body["sid"]


def test_missing_auth_header_is_refused(sim: Sim) -> None:
    assert _refused(sim, None) == "missing_token"


def test_token_signed_with_another_secret_is_refused(sim: Sim) -> None:
    assert _refused(sim, sim.token(secret="x" * 64)) == "bad_signature"


def test_token_of_another_app_is_refused(sim: Sim) -> None:
    assert _refused(sim, sim.token(appId="someone-else")) == "wrong_app_id"


def test_token_with_appid_spelt_differently_is_refused(sim: Sim) -> None:
    assert _refused(sim, sim.token(appId=None, appid="sim-test-app")) == "wrong_app_id"


def test_expired_token_is_refused(sim: Sim) -> None:
    now = int(time.time())
    assert _refused(sim, sim.token(iat=now - 120, exp=now - 60)) == "expired"


def test_token_without_expiry_is_refused(sim: Sim) -> None:
    assert _refused(sim, sim.token(exp=None)) == "missing_claim"


def test_garbage_token_is_refused(sim: Sim) -> None:
    assert _refused(sim, "not-a-jwt") == "malformed_token"


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_accepted(sim: Sim, algorithm: str) -> None:
    assert sim.dial(token=sim.token(algorithm=algorithm)).status_code == 200


def test_replayed_jti_is_refused_when_the_app_enforces_jti(sim: Sim) -> None:
    sim.configure(auth={"enforce_jti": True})
    token = sim.token()
    assert sim.dial(token=token).status_code == 200
    assert _refused(sim, token) == "jti_replay"
    assert sim.dial().status_code == 200  # a fresh jti is fine
    assert len(sim.control.calls()) == 2


def test_token_without_jti_is_refused_when_the_app_enforces_jti(sim: Sim) -> None:
    sim.configure(auth={"enforce_jti": True})
    assert _refused(sim, sim.token(jti=None)) == "missing_jti"


def test_replayed_jti_is_accepted_when_the_app_does_not_enforce_jti(sim: Sim) -> None:
    token = sim.token()
    assert sim.dial(token=token).status_code == 200
    assert sim.dial(token=token).status_code == 200


def test_auth_refusals_are_recorded_and_place_no_call(sim: Sim) -> None:
    _refused(sim, None)
    _refused(sim, sim.token(appId="other"))
    stats = sim.control.stats()
    assert stats["placed"] == 0
    assert stats["refused"] == {"missing_token": 1, "wrong_app_id": 1}
    assert [r["status"] for r in sim.control.refused()] == [401, 401]
