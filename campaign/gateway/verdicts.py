"""The verdict on a failed (or unreadable) dial-out: whether a call may exist.

The one rule: **retry only what provably placed no call.** Every failure becomes one of:

- `DialNotPlaced` (retried here, in place, then re-raised): nothing complete reached SAVG, or SAVG
  said it placed nothing. Connect errors and connect/pool timeouts (no byte sent); a proxy that
  refused the tunnel; write timeouts and write errors (httpcore writes until its buffer is empty,
  so a write failure means the last bytes of the body never left and the gateway cannot have
  parsed the JSON); HTTP 429 and 503 (refused before placing, jambonz's "Maximum Calls In
  Progress") and 408 (the server gave up before reading the whole request).
- `DialOutcomeUnknown` (never re-sent): the whole request may have arrived. Read timeouts, read
  errors, a server that hung up after the send, an unreadable answer, 2xx without `sid`/`callId`,
  and every 5xx but 503: a 500 may come after the call was placed, and a proxy's 502/504 cannot
  tell us whether SAVG acted. Any httpx error not listed below lands here too (the safe default).
- `DialRejected` (not retried): the request itself is wrong. 4xx other than 408/429, 3xx (never
  followed: a redirect means SAVG_BASE_URL is wrong), and requests httpx refuses to build or send.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from campaign.errors import DialNotPlaced, DialOutcomeUnknown, DialRejected, GatewayError

MESSAGE_LIMIT = 300

NOT_PLACED_STATUSES = frozenset({408, 429, 503})

# Looked up along the exception's MRO, so each leaf class httpx raises has its own decision.
TRANSPORT_OUTCOMES: Mapping[type[Exception], type[GatewayError]] = {
    httpx.ConnectError: DialNotPlaced,
    httpx.ConnectTimeout: DialNotPlaced,
    httpx.PoolTimeout: DialNotPlaced,
    httpx.ProxyError: DialNotPlaced,
    httpx.WriteTimeout: DialNotPlaced,
    httpx.WriteError: DialNotPlaced,
    httpx.ReadTimeout: DialOutcomeUnknown,
    httpx.ReadError: DialOutcomeUnknown,
    httpx.RemoteProtocolError: DialOutcomeUnknown,
    httpx.CloseError: DialOutcomeUnknown,
    httpx.DecodingError: DialOutcomeUnknown,
    httpx.LocalProtocolError: DialRejected,
    httpx.UnsupportedProtocol: DialRejected,
    httpx.TooManyRedirects: DialRejected,
    httpx.InvalidURL: DialRejected,
    httpx.HTTPError: DialOutcomeUnknown,
}

_HINTS: Mapping[int, str] = {
    401: "check SAVG_CLIENT_ID, SAVG_CLIENT_SECRET, SAVG_JWT_ALGORITHM and this host's clock",
    403: "the JWT app needs the SmartAssist Dialout scope for this bot",
    404: "check the bot id and SAVG_BASE_URL",
}


def transport_error(exc: Exception, url: str) -> GatewayError:
    outcome = next(TRANSPORT_OUTCOMES[c] for c in type(exc).__mro__ if c in TRANSPORT_OUTCOMES)
    return outcome(f"POST {url}: {type(exc).__name__}: {exc}")


def status_error(response: httpx.Response, url: str, now: datetime) -> GatewayError:
    status = response.status_code
    message = f"POST {url}: HTTP {status}: {gateway_message(response)}"
    if status in NOT_PLACED_STATUSES:
        retry_after = retry_after_s(response.headers.get("Retry-After"), now)
        return DialNotPlaced(message, status_code=status, retry_after_s=retry_after)
    if status >= 500:
        return DialOutcomeUnknown(message, status_code=status)
    hint = "redirects are not followed: fix SAVG_BASE_URL" if status < 400 else _HINTS.get(status)
    return DialRejected(f"{message} ({hint})" if hint else message, status_code=status)


def gateway_message(response: httpx.Response) -> str:
    """What the gateway said, from JSON `error`/`message`/`errors` or the raw text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    detail: object = response.text
    if isinstance(data, dict):
        detail = next((data[k] for k in ("error", "message", "errors") if data.get(k)), data)
    text = " ".join(str(detail).split()) or response.reason_phrase
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def accepted_ids(response: httpx.Response) -> tuple[str, str]:
    """`(sid, callId)` of a 2xx. A 2xx means a call may exist, so an answer we cannot read is
    `DialOutcomeUnknown`, never refused."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        sid, call_id = data.get("sid"), data.get("callId")
        if isinstance(sid, str) and sid and isinstance(call_id, str) and call_id:
            return sid, call_id
    message = f"HTTP {response.status_code} without sid/callId: {gateway_message(response)}"
    raise DialOutcomeUnknown(message, status_code=response.status_code)


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date; None if unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
