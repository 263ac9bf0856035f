"""The campaign spec: one document (YAML for the CLI, JSON for the API) parsed into domain values.

Validation is complete before anything is stored: every block is checked and every problem is
reported with its path (`retry.outcomes.busy.delays[1]: "5x" is not a duration`), so an operator
fixes the whole file in one pass. `to_dict()` echoes the spec with every default filled in; that
echo is what the database stores and what `campaign create --json` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from campaign.domain.bounds import number_problems
from campaign.domain.calling_window import CallingWindow
from campaign.domain.events_spec import EventsSpec, parse_events
from campaign.domain.gateway_spec import GatewaySpec, parse_gateway
from campaign.domain.pacing import PacingLimits
from campaign.domain.retry_policy import RetryPolicy
from campaign.domain.spec_fields import Problems, mapping, text
from campaign.errors import SpecInvalid

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


def _zone_ok(name: object) -> bool:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _schedule(data: object, errors: Problems) -> Schedule | None:
    if data is None:
        return None
    block = mapping(data, "schedule", errors)
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
    errors = Problems()
    if not isinstance(data, Mapping):
        raise SpecInvalid([f"spec: must be a mapping, not {type(data).__name__}"])
    # Before any number is converted or compared: a number of 250k digits costs seconds of CPU.
    too_long = list(number_problems(data))
    if too_long:
        raise SpecInvalid(too_long)
    errors.unknown_keys(data, TOP_LEVEL_KEYS, "")
    name = text(data, "name", "spec", errors)
    if name is None and "name" not in data:
        errors.add("name", "is required")
    region = text(data, "default_region", "spec", errors)
    gateway = parse_gateway(data.get("gateway"), errors)
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
