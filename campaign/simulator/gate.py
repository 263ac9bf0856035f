"""The carrier's capacity check: calls placed in the last second and calls live, per account and
per trunk.

A dial-out is refused when placing it would put more than `cps` placements inside any 1-second
window, or more than `max_concurrent` calls live at once. Counts move at the same instants the
records take (`placed_at`, `ended_at`), so `max_cps_1s_window` and `peak_concurrent` in the stats
can never exceed a limit that was in force for the whole run.
"""

from __future__ import annotations

from collections import Counter, deque

from campaign.simulator.config import Limits

_ACCOUNT = ""  # key of the account-wide counters; a trunk is never named ""


class Gate:
    """Sliding 1-second windows and live counters; `placed`/`ended` must pair up per call."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}
        self._live: Counter[str] = Counter()

    def reset(self) -> None:
        """Forget every call (the records were cleared and their timers cancelled)."""
        self._recent.clear()
        self._live.clear()

    def refusal(self, trunk: str, limits: Limits, now: float) -> str | None:
        """Why a call on `trunk` cannot be placed at `now`, or None if it can."""
        for key, limit, scope in (
            (_ACCOUNT, limits.account, "account"),
            (trunk, limits.for_trunk(trunk), "trunk"),
        ):
            if limit.cps is not None and self._in_last_second(key, now) >= limit.cps:
                return f"{scope}_cps"
            if limit.max_concurrent is not None and self._live[key] >= limit.max_concurrent:
                return f"{scope}_concurrency"
        return None

    def placed(self, trunk: str, now: float) -> None:
        """A call was placed on `trunk` at `now`."""
        for key in (_ACCOUNT, trunk):
            self._window(key, now).append(now)
            self._live[key] += 1

    def ended(self, trunk: str) -> None:
        """A call on `trunk` ended."""
        for key in (_ACCOUNT, trunk):
            self._live[key] -= 1

    def live(self, trunk: str | None = None) -> int:
        """Calls live now, account-wide or on one trunk."""
        return self._live[_ACCOUNT if trunk is None else trunk]

    def _window(self, key: str, now: float) -> deque[float]:
        window = self._recent.setdefault(key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        return window

    def _in_last_second(self, key: str, now: float) -> int:
        return len(self._window(key, now))
