"""The dial-out JWT and request body, checked without a server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import jwt
import pytest

from campaign.errors import InvalidInput
from campaign.gateway.auth import make_token
from campaign.gateway.client import DialRequest, SavgClient, tel_uri

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "a-test-secret-that-is-long-enough-for-hs512-because-it-has-64-by"


def decode(token: str, algorithm: str = "HS256") -> dict[str, object]:
    return jwt.decode(token, SECRET, algorithms=[algorithm], options={"verify_exp": False})


def test_token_claims_come_from_the_client_id_and_the_given_clock() -> None:
    claims = decode(make_token(client_id="app-1", client_secret=SECRET, ttl_s=30, now=NOW))
    iat = int(NOW.timestamp())
    assert {k: claims[k] for k in ("sub", "appId", "iat", "exp")} == {
        "sub": "app-1",
        "appId": "app-1",
        "iat": iat,
        "exp": iat + 30,
    }


def test_every_token_has_a_new_jti_even_at_the_same_instant() -> None:
    tokens = [make_token(client_id="a", client_secret=SECRET, now=NOW) for _ in range(50)]
    assert len({decode(t)["jti"] for t in tokens}) == 50


def test_the_algorithm_and_extra_claims_are_configurable() -> None:
    token = make_token(
        client_id="a", client_secret=SECRET, algorithm="HS512", now=NOW, extra_claims={"aud": "x"}
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert jwt.decode(
        token, SECRET, algorithms=["HS512"], audience="x", options={"verify_exp": False}
    )


@pytest.mark.parametrize("claim", ["jti", "appId", "exp"])
def test_extra_claims_cannot_replace_the_claims_replay_protection_relies_on(claim: str) -> None:
    with pytest.raises(ValueError, match=claim):
        make_token(client_id="a", client_secret=SECRET, now=NOW, extra_claims={claim: "x"})


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_token(client_id="a", client_secret=SECRET, now=datetime(2026, 3, 1))


def test_a_short_vendor_secret_signs_without_a_python_warning_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # pytest turns warnings into errors, so signing proves pyjwt's per-token warning is gone.
    assert make_token(client_id="a", client_secret="tiny-s3cret", now=NOW)
    with caplog.at_level(logging.WARNING):
        SavgClient(base_url="http://savg.test", client_id="a", client_secret="tiny-s3cret").close()
    assert "under 32 bytes" in caplog.text
    assert "tiny-s3cret" not in caplog.text


def test_tel_uri_drops_the_plus_of_an_e164_number() -> None:
    assert tel_uri("+911234567890") == "tel:911234567890"


@pytest.mark.parametrize("bad", ["911234567890", "+0123456", "+1 270 555", "+1234567890123456"])
def test_tel_uri_refuses_what_is_not_e164(bad: str) -> None:
    with pytest.raises(InvalidInput, match=r"E\.164"):
        tel_uri(bad)


def test_a_minimal_body_leaves_every_optional_field_to_the_gateway() -> None:
    body = DialRequest(bot="b", target="tel:1", caller="c", notifyurl="http://n/t").to_body()
    assert body == {"bot": "b", "target": "tel:1", "caller": "c", "notifyurl": "http://n/t",
                    "metadata": {}}  # fmt: skip
