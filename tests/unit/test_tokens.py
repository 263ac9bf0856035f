from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign.domain.tokens import sign, verify
from campaign.errors import NotFound

SECRET = "notify-secret-for-tests"
ids = st.integers(min_value=0, max_value=2**63 - 1)


@given(ids)
def test_a_signed_token_verifies_to_its_attempt_id(attempt_id: int) -> None:
    assert verify(sign(attempt_id, SECRET), SECRET) == attempt_id


@given(ids)
def test_tokens_are_url_safe_and_need_no_escaping(attempt_id: int) -> None:
    token = sign(attempt_id, SECRET)
    assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in token)


def test_signing_is_deterministic_so_a_resent_dial_carries_the_same_url() -> None:
    assert sign(7, SECRET) == sign(7, SECRET)


def test_token_from_another_secret_is_unknown() -> None:
    with pytest.raises(NotFound, match="unknown notification token"):
        verify(sign(7, "another-secret"), SECRET)


def test_mac_of_one_attempt_does_not_open_another() -> None:
    mac = sign(7, SECRET).split(".")[1]
    with pytest.raises(NotFound):
        verify(f"8.{mac}", SECRET)


@pytest.mark.parametrize(
    "respell",
    [
        lambda t: "0" + t,  # leading zero on the id
        lambda t: "+" + t,
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
        verify(respell(sign(7, SECRET)), SECRET)


def test_id_beyond_bigint_is_unknown_even_with_plausible_shape() -> None:
    with pytest.raises(NotFound):
        verify(f"{2**63}.{'A' * 24}", SECRET)


@given(st.text())
def test_arbitrary_text_raises_only_not_found(token: str) -> None:
    with pytest.raises(NotFound):
        verify(token, SECRET)


@given(
    ids,
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=24,
        max_size=24,
    ),
)
def test_forged_mac_of_the_right_shape_is_unknown(attempt_id: int, mac: str) -> None:
    if f"{attempt_id}.{mac}" == sign(attempt_id, SECRET):
        return
    with pytest.raises(NotFound):
        verify(f"{attempt_id}.{mac}", SECRET)


def test_empty_secret_is_a_configuration_error_not_a_token_error() -> None:
    with pytest.raises(ValueError, match="NOTIFY_SECRET"):
        sign(1, "")
    with pytest.raises(ValueError, match="NOTIFY_SECRET"):
        verify("1.x", "")


@pytest.mark.parametrize("bad", [-1, 2**63, True])
def test_sign_refuses_ids_that_are_not_bigint_keys(bad: int) -> None:
    with pytest.raises(ValueError, match="bigint"):
        sign(bad, SECRET)
