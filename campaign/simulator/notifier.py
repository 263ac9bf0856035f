"""Posting notifications the way SAVG/jambonz does: fire and forget, never awaited by the call.

Each post runs in its own task so a slow receiver delays nothing else; the outcome (status code or
transport error, attempt count) is written onto the notification's record. Retries are off by
default, like the real gateway, and when on they cover transport errors, 429 and 5xx only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from functools import lru_cache

import httpx

from campaign.simulator.config import SimConfig
from campaign.simulator.records import NotificationRecord
from campaign.simulator.transport import LeanTransport

USER_AGENT = "savg-simulator"


@lru_cache(maxsize=4096)
def _parsed(url: str) -> httpx.URL:
    # Parsing costs more than the rest of a post; a call's notifications share one notifyurl.
    return httpx.URL(url)


def signature_header(secret: str, body: bytes, at: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, the jambonz scheme SAVG inherits."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


class Notifier:
    """Owns the HTTP client and the in-flight delivery tasks."""

    def __init__(self, max_connections: int) -> None:
        self._client = httpx.AsyncClient(
            transport=LeanTransport(max_connections), headers={"User-Agent": USER_AGENT}
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def post(
        self,
        url: str,
        echo_headers: dict[str, str],
        note: NotificationRecord,
        config: SimConfig,
        secret: str | None,
    ) -> None:
        """Start delivering `note` now; returns at once."""
        task = asyncio.get_running_loop().create_task(
            self._deliver(url, echo_headers, note, config, secret)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Cancel deliveries still running and close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def _deliver(
        self,
        url: str,
        echo_headers: dict[str, str],
        note: NotificationRecord,
        config: SimConfig,
        secret: str | None,
    ) -> None:
        body = json.dumps(note.body, separators=(",", ":")).encode()
        try:
            for attempt in range(config.notify.retries + 1):
                if attempt:
                    await asyncio.sleep(config.notify.retry_delay_ms / 1000)
                headers = {**echo_headers, "Content-Type": "application/json"}
                if secret is not None:
                    headers["SAVG-Signature"] = signature_header(secret, body, int(time.time()))
                if await self._attempt(url, headers, body, note, config.notify.timeout_s):
                    return
        finally:
            note.done = True

    async def _attempt(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        note: NotificationRecord,
        timeout_s: float,
    ) -> bool:
        """One POST; True when retrying could not change the result."""
        note.attempts += 1
        if note.sent_at is None:
            note.sent_at = time.time()
        try:
            response = await self._client.post(
                _parsed(url), content=body, headers=headers, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            note.status_code, note.error = None, f"{type(exc).__name__}: {exc}"
            return False
        note.status_code, note.error = response.status_code, None
        return response.status_code < 500 and response.status_code != 429
