"""The campaign spec: one document (YAML for the CLI, JSON for the API) parsed into domain values.

Validation is complete before anything is stored: every block is checked and every problem is
reported with its path (`retry.outcomes.busy.delays[1]: "5x" is not a duration`), so an operator
fixes the whole file in one pass. `to_dict()` echoes the spec with every default filled in; that
echo is what the database stores and what `campaign create --json` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from campaign.domain.bounds import number_problems
from campaign.domain.caller_pool import CallerPool, parse_callers
from campaign.domain.calling_window import CallingWindow
from campaign.domain.events_spec import EventsSpec, parse_events
from campaign.domain.pacing import PacingLimits
from campaign.domain.retry_policy import RetryPolicy
from campaign.errors import SpecInvalid

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
TOP_LEVEL_KEYS = (
    "name",
    "gateway",
    "window",
    "pacing",
    "retry",
    "schedule",
    "default_region",
    "events",
)
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

T = TypeVar("T")


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


@dataclass(frozen=True)
class Schedule:
    """A recurring campaign: a run starts at each cron occurrence in `timezone`."""

    cron: str
    timezone: str

    def to_dict(self) -> dict[str, str]:
        return {"cron": self.cron, "timezone": self.timezone}


@dataclass(frozen=True)
class CampaignSpec:
    """A whole validated spec."""

    name: str
    gateway: GatewaySpec
    window: CallingWindow
    pacing: PacingLimits
    retry: RetryPolicy
    schedule: Schedule | None = None
    default_region: str | None = None
    events: EventsSpec | None = None  # where this campaign's signed events go (events_spec.py)

    @property
    def ring_margin(self) -> timedelta:
        """A call is only started if the window stays open for its whole ring time."""
        return timedelta(milliseconds=self.gateway.timeout_in_ms)

    def to_dict(self) -> dict[str, Any]:
        """The spec with defaults filled in; `parse_spec(spec.to_dict()) == spec`."""
        out = {
            "name": self.name,
            "gateway": self.gateway.to_dict(),
            "window": self.window.to_dict(),
            "pacing": self.pacing.to_dict(),
            "retry": self.retry.to_dict(),
            "schedule": self.schedule.to_dict() if self.schedule else None,
            "default_region": self.default_region,
        }
        if self.events is not None:
            out["events"] = self.events.to_dict()
        return out


class _Errors:
    """Collects "path: message" problems across the blocks of one spec."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def block(self, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except SpecInvalid as exc:
            self.items.extend(exc.errors)
            return None

    def unknown_keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in data:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.add(where, f"unknown key (expected one of {', '.join(allowed)})")


def _mapping(data: object, path: str, errors: _Errors) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        errors.add(path, f"must be a mapping, not {type(data).__name__}")
        return {}
    return data


def _text(data: Mapping[str, Any], key: str, path: str, errors: _Errors) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        errors.add(f"{path}.{key}", "must be a non-empty string")
        return None
    return str(value).strip()


def _positive_int(
    value: object, where: str, errors: _Errors, *, zero: bool = False, most: int | None = None
) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        errors.add(where, f"must be a {'non-negative' if zero else 'positive'} integer")
        return None
    if most is not None and value > most:
        errors.add(where, f"must be at most {most}")
        return None
    return value


def _gateway(data: object, errors: _Errors) -> GatewaySpec | None:
    block = _mapping(data, "gateway", errors)
    errors.unknown_keys(block, GATEWAY_KEYS, "gateway")
    bot = _text(block, "bot", "gateway", errors)
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
        threshold = _positive_int(threshold, "gateway.thresholdWordCount", errors)
    timers = dict(DEFAULT_TIMERS)
    for key, value in _mapping(block.get("timers"), "gateway.timers", errors).items():
        if key not in TIMER_KEYS:
            errors.add(
                f"gateway.timers.{key}", f"unknown timer (expected one of {', '.join(TIMER_KEYS)})"
            )
        elif (ms := _positive_int(value, f"gateway.timers.{key}", errors, most=DAY_MS)) is not None:
            timers[key] = ms
    ring = _positive_int(
        block.get("timeoutInMs", DEFAULT_RING_TIMEOUT_MS),
        "gateway.timeoutInMs",
        errors,
        most=DAY_MS,
    )
    metadata = dict(_mapping(block.get("metadata"), "gateway.metadata", errors))
    headers = block.get("notifyHeaders")
    if headers is not None:
        headers = {
            str(k): str(v) for k, v in _mapping(headers, "gateway.notifyHeaders", errors).items()
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
        trunk=_text(block, "trunk", "gateway", errors),
        machine_detection=mode,
        threshold_word_count=threshold,
        timers=timers,
        timeout_in_ms=ring,
        metadata=metadata,
        notify_headers=headers,
        amd_events_subscription=tuple(str(e) for e in events or ()),
    )


def _zone_ok(name: object) -> bool:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _schedule(data: object, errors: _Errors) -> Schedule | None:
    if data is None:
        return None
    block = _mapping(data, "schedule", errors)
    errors.unknown_keys(block, ("cron", "timezone"), "schedule")
    cron = block.get("cron")
    zone = block.get("timezone", "UTC")
    ok = True
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        errors.add("schedule.cron", f'"{cron}" is not a cron expression (e.g. "0 10 * * MON")')
        ok = False
    if not _zone_ok(zone):
        errors.add("schedule.timezone", f'"{zone}" is not an IANA time zone')
        ok = False
    return Schedule(cron=str(cron), timezone=str(zone)) if ok else None


def parse_spec(data: object) -> CampaignSpec:
    """Validate a whole spec; raise SpecInvalid listing every problem with its path."""
    errors = _Errors()
    if not isinstance(data, Mapping):
        raise SpecInvalid([f"spec: must be a mapping, not {type(data).__name__}"])
    # Before any number is converted or compared: a number of 250k digits costs seconds of CPU.
    too_long = list(number_problems(data))
    if too_long:
        raise SpecInvalid(too_long)
    errors.unknown_keys(data, TOP_LEVEL_KEYS, "")
    name = _text(data, "name", "spec", errors)
    if name is None and "name" not in data:
        errors.add("name", "is required")
    region = _text(data, "default_region", "spec", errors)
    gateway = _gateway(data.get("gateway"), errors)
    window = errors.block(lambda: CallingWindow.from_dict(data.get("window"), "window"))
    pacing = errors.block(lambda: PacingLimits.from_dict(data.get("pacing"), "pacing"))
    retry = errors.block(lambda: RetryPolicy.from_dict(data.get("retry"), "retry"))
    schedule = _schedule(data.get("schedule"), errors)
    events = parse_events(data.get("events"), "events", errors.items)
    if (
        errors.items
        or name is None
        or gateway is None
        or window is None
        or pacing is None
        or retry is None
    ):
        raise SpecInvalid(errors.items or ["spec: invalid"])
    return CampaignSpec(
        name=name,
        gateway=gateway,
        window=window,
        pacing=pacing,
        retry=retry,
        schedule=schedule,
        default_region=region.upper() if region else None,
        events=events,
    )
