"""The spec's `gateway` block: what every dial-out request carries besides the contact.

Names and defaults are SAVG's (docs/gateway.md §1); timers and the ring timeout are bounded by a day
so a typo cannot park a call for a month, and the ring timeout is also the window's ring margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from campaign.domain.caller_pool import CallerPool, parse_callers
from campaign.domain.spec_fields import Problems, mapping, positive_int, text

MACHINE_DETECTION_MODES = ("detect", "disconnect", "disabled")
TIMER_KEYS = (
    "noSpeechTimeoutMs",
    "decisionTimeoutMs",
    "toneTimeoutMs",
    "greetingCompletionTimeoutMs",
)
DEFAULT_TIMERS = {
    "noSpeechTimeoutMs": 5000,
    "decisionTimeoutMs": 15000,
    "toneTimeoutMs": 20000,
    "greetingCompletionTimeoutMs": 2000,
}
DEFAULT_RING_TIMEOUT_MS = 60000
DAY_MS = 86_400_000
"""Gateway timers and the ring timeout are bounded by a day: a larger value is a typo."""
GATEWAY_KEYS = (
    "bot",
    "caller",
    "caller_strategy",
    "max_calls_per_day",
    "trunk",
    "machineDetection",
    "thresholdWordCount",
    "timers",
    "timeoutInMs",
    "metadata",
    "notifyHeaders",
    "amdEventsSubscription",
)


@dataclass(frozen=True)
class GatewaySpec:
    """What each dial-out request carries besides the contact (docs/gateway.md §1)."""

    bot: str
    callers: CallerPool
    trunk: str | None = None
    machine_detection: str = "detect"
    threshold_word_count: int | None = None
    timers: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TIMERS))
    timeout_in_ms: int = DEFAULT_RING_TIMEOUT_MS
    metadata: Mapping[str, Any] = field(default_factory=dict)
    notify_headers: Mapping[str, str] | None = None
    # Intermediate AMD event posts (`Call-In-Progress`) cost a notification each and change no
    # state: the final notification carries the AMD result. Off (`[]`) unless a spec lists them.
    amd_events_subscription: tuple[str, ...] = ()

    @property
    def amd_enabled(self) -> bool:
        return self.machine_detection != "disabled"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bot": self.bot,
            **self.callers.to_dict(),
            "trunk": self.trunk,
            "machineDetection": self.machine_detection,
            "thresholdWordCount": self.threshold_word_count,
            "timers": dict(self.timers),
            "timeoutInMs": self.timeout_in_ms,
            "metadata": dict(self.metadata),
        }
        if self.notify_headers is not None:
            out["notifyHeaders"] = dict(self.notify_headers)
        out["amdEventsSubscription"] = list(self.amd_events_subscription)
        return out


def parse_gateway(data: object, errors: Problems) -> GatewaySpec | None:
    """The `gateway` block, defaults filled in; None (problems recorded) when it is unusable."""
    block = mapping(data, "gateway", errors)
    errors.unknown_keys(block, GATEWAY_KEYS, "gateway")
    bot = text(block, "bot", "gateway", errors)
    callers = parse_callers(block, errors.items)
    for key, value in (("bot", bot), ("caller", callers)):
        if value is None and key not in block:
            errors.add(f"gateway.{key}", "is required")
    mode = str(block.get("machineDetection", "detect")).strip().lower()
    if mode not in MACHINE_DETECTION_MODES:
        errors.add(
            "gateway.machineDetection",
            f'"{block.get("machineDetection")}" is not one of {", ".join(MACHINE_DETECTION_MODES)}',
        )
    threshold = block.get("thresholdWordCount")
    if threshold is not None:
        threshold = positive_int(threshold, "gateway.thresholdWordCount", errors)
    timers = dict(DEFAULT_TIMERS)
    for key, value in mapping(block.get("timers"), "gateway.timers", errors).items():
        if key not in TIMER_KEYS:
            errors.add(
                f"gateway.timers.{key}", f"unknown timer (expected one of {', '.join(TIMER_KEYS)})"
            )
        elif (ms := positive_int(value, f"gateway.timers.{key}", errors, most=DAY_MS)) is not None:
            timers[key] = ms
    ring = positive_int(
        block.get("timeoutInMs", DEFAULT_RING_TIMEOUT_MS),
        "gateway.timeoutInMs",
        errors,
        most=DAY_MS,
    )
    metadata = dict(mapping(block.get("metadata"), "gateway.metadata", errors))
    headers = block.get("notifyHeaders")
    if headers is not None:
        headers = {
            str(k): str(v) for k, v in mapping(headers, "gateway.notifyHeaders", errors).items()
        }
    events = block.get("amdEventsSubscription")
    if events is not None and not isinstance(events, list):
        errors.add("gateway.amdEventsSubscription", "must be a list")
        events = None
    if bot is None or callers is None or ring is None or mode not in MACHINE_DETECTION_MODES:
        return None
    return GatewaySpec(
        bot=bot,
        callers=callers,
        trunk=text(block, "trunk", "gateway", errors),
        machine_detection=mode,
        threshold_word_count=threshold,
        timers=timers,
        timeout_in_ms=ring,
        metadata=metadata,
        notify_headers=headers,
        amd_events_subscription=tuple(str(e) for e in events or ()),
    )
