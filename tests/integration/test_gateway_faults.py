"""Every httpx failure gets a deliberate verdict (as httpx's test_httpcore_all_exceptions_mapped).

Transport faults a test server cannot cause on demand (a write timeout, a proxy refusal, an
undecodable body) are injected with httpx.MockTransport, the one place it is used.
"""

from __future__ import annotations

import inspect

import httpx
import pytest

from campaign.errors import DialNotPlaced, DialRejected, GatewayError
from campaign.gateway.client import DialRequest, SavgClient
from campaign.gateway.verdicts import TRANSPORT_OUTCOMES

# Exceptions httpx exports that a request never raises: misuse of the Response/Cookies API, and
# HTTPStatusError, raised only by raise_for_status(), which the client does not call.
NOT_RAISED_BY_A_REQUEST = {
    httpx.CookieConflict,
    httpx.StreamError,
    httpx.StreamConsumed,
    httpx.StreamClosed,
    httpx.ResponseNotRead,
    httpx.RequestNotRead,
    httpx.HTTPStatusError,
}
HTTPX_EXCEPTIONS = {
    obj
    for _, obj in inspect.getmembers(httpx, inspect.isclass)
    if issubclass(obj, Exception) and obj.__module__.startswith("httpx")
}
ABSTRACT = {
    cls
    for cls in HTTPX_EXCEPTIONS
    if any(c is not cls and issubclass(c, cls) for c in HTTPX_EXCEPTIONS)
}
RAISED_LEAVES = sorted(
    HTTPX_EXCEPTIONS - ABSTRACT - NOT_RAISED_BY_A_REQUEST, key=lambda c: c.__name__
)


def dial_request() -> DialRequest:
    return DialRequest(
        bot="st-1", target="tel:911234567890", caller="+1270", notifyurl="http://n/t"
    )


def test_every_exception_a_request_can_raise_has_its_own_verdict() -> None:
    unmapped = [cls.__name__ for cls in RAISED_LEAVES if cls not in TRANSPORT_OUTCOMES]
    assert unmapped == []


def test_httpx_exports_no_exception_this_module_has_not_classified() -> None:
    # A new httpx exception class fails here until someone decides what it means for a call.
    classified = set(TRANSPORT_OUTCOMES) | NOT_RAISED_BY_A_REQUEST | ABSTRACT
    assert HTTPX_EXCEPTIONS - classified == set()


@pytest.mark.parametrize("exc_class", RAISED_LEAVES, ids=lambda c: c.__name__)
def test_a_transport_fault_raises_its_verdict_chained_and_retries_only_not_placed(
    exc_class: type[Exception],
) -> None:
    tries: list[httpx.Request] = []

    def fail(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        if issubclass(exc_class, httpx.RequestError):
            raise exc_class("injected", request=request)
        raise exc_class("injected")

    transport = httpx.MockTransport(fail)
    client = SavgClient(
        base_url="http://savg.test", client_id="c", client_secret="s", transport=transport,
        max_attempts=2,
    )  # fmt: skip
    verdict = TRANSPORT_OUTCOMES[exc_class]
    with client, pytest.raises(GatewayError) as info:
        client.dial(dial_request())
    assert type(info.value) is verdict
    assert isinstance(info.value.__cause__, exc_class)
    assert len(tries) == (2 if verdict is DialNotPlaced else 1)


def test_an_unsupported_scheme_is_rejected_without_a_retry() -> None:
    client = SavgClient(base_url="ftp://savg.test", client_id="c", client_secret="s")
    with client, pytest.raises(DialRejected, match="UnsupportedProtocol"):
        client.dial(dial_request())
