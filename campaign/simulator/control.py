"""A small typed client for the simulator's `/_sim/*` endpoints, for tests, benchmarks and the demo.

It only speaks to the control surface; dial-outs go through the engine's own gateway client (or,
in the simulator's tests, plain httpx), so the simulator stays an independent witness.
"""

from __future__ import annotations

import os
import time
from types import TracebackType
from typing import Any

import httpx

from campaign.errors import InvalidInput
from campaign.simulator.config import SimConfig


class SimControl:
    """`SimControl("http://127.0.0.1:8090")`; use as a context manager or call `close()`."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, token: str | None = None) -> None:
        """`token` (default: `SIM_CONTROL_TOKEN`) is sent as a bearer token when set."""
        self.base_url = base_url.rstrip("/")
        token = token or os.environ.get("SIM_CONTROL_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, headers=headers)

    def dialout_url(self, bot: str) -> str:
        """The dial-out endpoint for `bot` on this simulator."""
        return f"{self.base_url}/api/1.1/public/bot/{bot}/smartassist/dialout"

    def reset(self) -> None:
        """Clear records and counters and cancel every pending call event."""
        self._http.post("/_sim/reset").raise_for_status()

    def configure(self, **patch: Any) -> SimConfig:
        """Deep-merge `patch` into the running config (`mix` replaces the whole mix)."""
        return self._send_config("PATCH", patch)

    def replace_config(self, config: SimConfig | dict[str, Any]) -> SimConfig:
        """Replace the running config; fields left out take their defaults."""
        data = config.model_dump(mode="json") if isinstance(config, SimConfig) else config
        return self._send_config("PUT", data)

    def config(self) -> SimConfig:
        """The running config."""
        return SimConfig.model_validate(self._get("/_sim/config"))

    def calls(self, number: str | None = None) -> list[dict[str, Any]]:
        """Every placed call (or those to one number), in placement order."""
        params = {} if number is None else {"number": number}
        result: list[dict[str, Any]] = self._get("/_sim/calls", params)
        return result

    def refused(self) -> list[dict[str, Any]]:
        """Every refused dial-out: time, reason, status (0 for a reset), target."""
        result: list[dict[str, Any]] = self._get("/_sim/refused")
        return result

    def stats(self) -> dict[str, Any]:
        """Aggregates over the records (see the simulator README for the fields)."""
        result: dict[str, Any] = self._get("/_sim/stats")
        return result

    def wait_quiet(self, timeout_s: float = 10.0, poll_s: float = 0.01) -> dict[str, Any]:
        """Wait until no call is live, no event is pending and no notification is in flight."""
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            busy = stats["live"] + stats["pending_events"] + stats["notifications"]["in_flight"]
            if not busy:
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator still busy after {timeout_s}s: {busy} items")
            time.sleep(poll_s)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def __enter__(self) -> SimControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _send_config(self, method: str, data: dict[str, Any]) -> SimConfig:
        response = self._http.request(method, "/_sim/config", json=data)
        if response.status_code == 422:
            raise InvalidInput(f"simulator config refused: {response.json()['detail']}")
        response.raise_for_status()
        return SimConfig.model_validate(response.json())
