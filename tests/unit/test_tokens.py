from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.tokens import GRACE, sign, verify
from campaign.errors import NotFound

SECRET = "notify-secret-for-tests"
SECRETS = (SECRET,)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
ids = st.integers(min_value=0, max_value=2**63 - 1)


def _sign(attempt_id: int, secret: str = SECRET, expires_at: datetime = LATER) -> str:
    return sign(attempt_id, secret, expires_at=expires_at)


@given(ids)
def test_a_signed_token_verifies_to_its_attempt_id(attempt_id: int) -> None:
    assert verify(_sign(attempt_id), SECRETS, NOW) == attempt_id


@given(ids)
def test_tokens_are_url_safe_and_need_no_escaping(attempt_id: int) -> None:
    token = _sign(attempt_id)
    assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in token)


def test_signing_is_deterministic_so_a_resent_dial_carries_the_same_url() -> None:
    assert _sign(7) == _sign(7)


def test_a_token_stops_verifying_at_its_expiry() -> None:
    token = _sign(7, expires_at=LATER)
    assert verify(token, SECRETS, LATER - timedelta(seconds=1)) == 7
    with pytest.raises(NotFound, match="unknown notification token"):
        verify(token, SECRETS, LATER)


def test_the_expiry_is_signed_so_it_cannot_be_pushed_back() -> None:
    attempt, expires, mac = _sign(7, expires_at=LATER).split(".")
    pushed = f"{attempt}.{int(expires) + 86_400}.{mac}"
    with pytest.raises(NotFound):
        verify(pushed, SECRETS, NOW)


def test_the_grace_is_a_comfortable_margin_past_the_deadline() -> None:
    assert timedelta(hours=12) <= GRACE


def test_a_token_of_the_previous_secret_verifies_during_a_rotation() -> None:
    old = _sign(7, secret="the-secret-before-rotation")
    assert verify(old, (SECRET, "the-secret-before-rotation"), NOW) == 7
    with pytest.raises(NotFound):
        verify(old, SECRETS, NOW)  # once the previous secret is dropped


def test_token_from_another_secret_is_unknown() -> None:
    with pytest.raises(NotFound, match="unknown notification token"):
        verify(_sign(7, "another-secret"), SECRETS, NOW)


def test_mac_of_one_attempt_does_not_open_another() -> None:
    _, expires, mac = _sign(7).split(".")
    with pytest.raises(NotFound):
        verify(f"8.{expires}.{mac}", SECRETS, NOW)


def test_a_token_without_an_expiry_is_unknown() -> None:
    attempt, _, mac = _sign(7).split(".")
    with pytest.raises(NotFound):
        verify(f"{attempt}.{mac}", SECRETS, NOW)


@pytest.mark.parametrize(
    "respell",
    [
        lambda t: "0" + t,  # leading zero on the id
        lambda t: "+" + t,
        lambda t: t.replace(".", ".0", 1),  # leading zero on the expiry
        lambda t: t + "=",  # padding
        lambda t: t[:-1],  # truncated MAC
        lambda t: t.replace(".", ":"),
        lambda t: t.upper(),
        lambda t: t + "\n",
        lambda t: " " + t,
        lambda t: "٧" + t[1:],  # non-ASCII digit that int() would accept
    ],
)
def test_respelt_genuine_token_is_unknown(respell: Callable[[str], str]) -> None:
    with pytest.raises(NotFound):
        verify(respell(_sign(7)), SECRETS, NOW)


def test_id_beyond_bigint_is_unknown_even_with_plausible_shape() -> None:
    with pytest.raises(NotFound):
        verify(f"{2**63}.{int(LATER.timestamp())}.{'A' * 24}", SECRETS, NOW)


@given(st.text())
def test_arbitrary_text_raises_only_not_found(token: str) -> None:
    with pytest.raises(NotFound):
        verify(token, SECRETS, NOW)


@given(
    ids,
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=24,
        max_size=24,
    ),
)
def test_forged_mac_of_the_right_shape_is_unknown(attempt_id: int, mac: str) -> None:
    forged = f"{attempt_id}.{int(LATER.timestamp())}.{mac}"
    if forged == _sign(attempt_id):
        return
    with pytest.raises(NotFound):
        verify(forged, SECRETS, NOW)


def test_empty_secret_is_a_configuration_error_not_a_token_error() -> None:
    with pytest.raises(ValueError, match="NOTIFY_SECRET"):
        _sign(1, "")
    with pytest.raises(ValueError, match="NOTIFY_SECRET"):
        verify("1.2.x", ("",), NOW)
    with pytest.raises(ValueError, match="NOTIFY_SECRET"):
        verify("1.2.x", (), NOW)


@pytest.mark.parametrize("bad", [-1, 2**63, True])
def test_sign_refuses_ids_that_are_not_bigint_keys(bad: int) -> None:
    with pytest.raises(ValueError, match="bigint"):
        _sign(bad)


def test_sign_refuses_a_naive_expiry() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _sign(1, expires_at=datetime(2026, 1, 1))
