"""SAVG dial-out over HTTP: one POST per call, retried in place only when no call was placed.

Which failure means what (`DialNotPlaced`, `DialOutcomeUnknown`, `DialRejected`) is decided in
`campaign.gateway.verdicts`; this module builds the request, sends it with a fresh JWT, and retries
`DialNotPlaced` for a few seconds at most before handing it back to the worker.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Self
from urllib.parse import quote

import certifi
import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from campaign.clock import utcnow
from campaign.errors import (
    DialNotPlaced,
    DialOutcomeUnknown,
    GatewayError,
    InvalidInput,
)
from campaign.gateway.auth import MIN_SECRET_BYTES, make_token
from campaign.gateway.verdicts import (
    accepted_ids,
    status_error,
    transport_error,
)
from campaign.settings import Settings

logger = logging.getLogger(__name__)

# In-place retries stay short: a longer wait (a big Retry-After) is handed back to the worker,
# which reschedules without holding a thread.
BACKOFF_INITIAL_S = 0.2
BACKOFF_JITTER_S = 0.2
MAX_IN_PLACE_WAIT_S = 5.0
_E164 = re.compile(r"\+[1-9]\d{1,14}")


def tel_uri(e164: str) -> str:
    """`+911234567890` → `tel:911234567890`: SAVG wants the digits with country code, no '+'."""
    if not _E164.fullmatch(e164):
        raise InvalidInput(f"{e164!r} is not an E.164 number (+ then 2-15 digits)")
    return "tel:" + e164[1:]


@dataclass(frozen=True)
class DialRequest:
    """One dial-out, in our names; `to_body` spells them as the vendor's sample does."""

    bot: str
    target: str
    caller: str
    notifyurl: str
    trunk: str | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)
    timers: Mapping[str, int] | None = None
    machine_detection: str | None = None
    threshold_word_count: int | None = None
    timeout_in_ms: int | None = None
    notify_headers: Mapping[str, str] | None = None
    amd_events: Sequence[str] | None = None

    def to_body(self) -> dict[str, object]:
        """The JSON body; fields left None are omitted so SAVG applies its own defaults."""
        body: dict[str, object | None] = {
            "bot": self.bot,
            "target": self.target,
            "caller": self.caller,
            "notifyurl": self.notifyurl,
            "trunk": self.trunk,
            "metadata": dict(self.metadata),
            "timers": None if self.timers is None else dict(self.timers),
            "machineDetection": self.machine_detection,
            "thresholdWordCount": self.threshold_word_count,
            "timeoutInMs": self.timeout_in_ms,
            "notifyHeaders": None if self.notify_headers is None else dict(self.notify_headers),
            "amdEventsSubscription": None if self.amd_events is None else list(self.amd_events),
        }
        return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True)
class DialAccepted:
    """SAVG took the call: keep both ids, notifications may carry either."""

    sid: str
    call_id: str
    latency_ms: float  # of the HTTP try that was accepted, not of earlier refused tries


# Every dial-out sends these; the per-try `auth` token is added to them.
_HEADERS = {
    "Content-Type": "application/json",
    "Format": "application/json",
    "Accept": "application/json",
}


@lru_cache(maxsize=256)
def _dialout_url(base_url: str, bot: str) -> httpx.URL:
    """The dial-out URL of `bot`, parsed once: httpx parses a URL string character by character
    on every request (twice), a few percent of a dial's CPU."""
    return httpx.URL(f"{base_url}/api/1.1/public/bot/{quote(bot, safe='')}/smartassist/dialout")


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle (~25 ms of CPU), which
    httpx would otherwise do for every client, i.e. for every worker thread the pool adds."""
    return ssl.create_default_context(cafile=certifi.where())


class SavgClient:
    """A dial-out client holding one `httpx.Client`: keep one per thread, close it when done.

    Each HTTP try carries a freshly minted JWT (SAVG may enforce unique `jti`). `DialNotPlaced`
    is retried here up to `max_attempts` tries with a short jittered backoff that honours
    `Retry-After`; a `Retry-After` beyond MAX_IN_PLACE_WAIT_S ends the retries at once so the
    worker can reschedule. `DialOutcomeUnknown` and `DialRejected` are raised on the first try.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        algorithm: str = "HS256",
        jwt_ttl_s: int = 60,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_attempts: int = 3,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if len(client_secret.encode()) < MIN_SECRET_BYTES.get(algorithm, 0):
            logger.warning(
                "SAVG_CLIENT_SECRET is under %d bytes, weak for %s: ask SAVG for a longer one",
                MIN_SECRET_BYTES[algorithm],
                algorithm,
            )
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._algorithm = algorithm
        self._jwt_ttl_s = jwt_ttl_s
        self._clock = clock
        # The body is a few hundred bytes: a write that stalls as long as a connect is stuck.
        timeout = httpx.Timeout(
            connect=connect_timeout_s,
            read=read_timeout_s,
            write=connect_timeout_s,
            pool=connect_timeout_s,
        )
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=_tls_context(),
            headers=_HEADERS,
        )
        self._retrying = Retrying(
            retry=retry_if_exception_type(DialNotPlaced),
            stop=stop_after_attempt(max_attempts) | _RetryAfterTooLong(),
            wait=_wait,
            reraise=True,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.BaseTransport | None = None
    ) -> Self:
        """A client configured from the SAVG_* settings."""
        return cls(
            base_url=settings.savg_base_url,
            client_id=settings.savg_client_id,
            client_secret=settings.savg_client_secret.get_secret_value(),
            algorithm=settings.savg_jwt_algorithm,
            jwt_ttl_s=settings.savg_jwt_ttl_s,
            connect_timeout_s=settings.savg_connect_timeout_s,
            read_timeout_s=settings.savg_read_timeout_s,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"SavgClient(base_url={self._base_url!r}, client_id={self._client_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def dial(self, req: DialRequest) -> DialAccepted:
        """POST one dial-out; raises DialNotPlaced, DialOutcomeUnknown or DialRejected."""
        url = _dialout_url(self._base_url, req.bot)
        body = req.to_body()
        return self._retrying(self._try_once, url, body)

    def _try_once(self, url: httpx.URL, body: dict[str, object]) -> DialAccepted:
        token = make_token(
            client_id=self._client_id,
            client_secret=self._client_secret,
            algorithm=self._algorithm,
            ttl_s=self._jwt_ttl_s,
            now=self._clock(),
        )
        started = time.perf_counter()
        try:
            response = self._http.post(url, json=body, headers={"auth": token})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _logged(transport_error(exc, str(url))) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        if not response.is_success:
            raise _logged(status_error(response, str(url), self._clock()))
        try:
            sid, call_id = accepted_ids(response)
        except DialOutcomeUnknown as exc:
            _logged(exc)
            raise
        accepted = DialAccepted(sid=sid, call_id=call_id, latency_ms=latency_ms)
        logger.debug(
            "SAVG accepted dial-out: sid=%s callId=%s in %.0f ms",
            accepted.sid,
            accepted.call_id,
            latency_ms,
        )
        return accepted


def _logged(error: GatewayError) -> GatewayError:
    logger.warning("SAVG dial-out failed (%s): %s", type(error).__name__, error)
    return error


def _hinted_wait_s(state: RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome is not None else None
    return exc.retry_after_s if isinstance(exc, DialNotPlaced) else None


class _RetryAfterTooLong(stop_base):
    """Stop when SAVG asks for a longer pause than is worth holding a worker thread for."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        hint = _hinted_wait_s(retry_state)
        return hint is not None and hint > MAX_IN_PLACE_WAIT_S


# wait_exponential + wait_random rather than wait_exponential_jitter, whose arguments differ
# across the tenacity versions pyproject allows.
_backoff = wait_exponential(multiplier=BACKOFF_INITIAL_S, max=MAX_IN_PLACE_WAIT_S) + wait_random(
    0, BACKOFF_JITTER_S
)


def _wait(state: RetryCallState) -> float:
    return max(_backoff(state), _hinted_wait_s(state) or 0.0)
