"""The account policy: one document of rules over every campaign (trunk limits and compliance).

```yaml
trunks:                       # shared by every campaign dialing through the trunk
  default: {cps: 20, max_live_calls: 100}    # any trunk not listed (and campaigns with none)
  carrier-b: {cps: 5, max_live_calls: 20}
compliance:
  per_number: {per_day: 3, per_week: 7, min_gap: 4h}   # calls to a number across all campaigns
  hours: {default: "08:00-21:00", US-FL: "08:00-20:00"}  # the contact's local time
  holidays: [US, GB]          # no calls on national public holidays of these countries
  require_consent: false      # true: contacts without consent are suppressed
```

Read like a campaign spec: unknown keys are errors and every problem is reported with its path
in one pass. A field a trunk leaves out falls back to `default`, then to the environment
(`TRUNK_CPS`, `TRUNK_MAX_LIVE_CALLS`). Region codes are a country (`US`) or a country and its
subdivision (`US-FL`); a contact's hours are those of its region, else of its country, else
`default`, else none. `per_week` is the rolling 7 days and `per_day` the number's local day, as
in a campaign's retry policy (`domain.frequency`); `min_gap` is at most 7 days, since the engine
reads a number's last `NUMBER_HISTORY` of calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from campaign.domain import public_holidays
from campaign.domain import window_spec as words
from campaign.domain.blocks import read_block
from campaign.domain.bounds import number_problems, shown
from campaign.domain.calling_window import CallingWindow
from campaign.domain.frequency import KEYS as CAP_KEYS
from campaign.domain.frequency import FrequencyCaps
from campaign.domain.pacing import MAX_CPS
from campaign.domain.regions import region_code
from campaign.errors import SpecInvalid

DEFAULT = "default"
"""The trunk entry of trunks not listed, and the trunk of campaigns that name none."""
NUMBER_HISTORY = timedelta(days=8)
"""How far back a number's calls are read: a week for `per_week`, a day more for local days."""
MAX_MIN_GAP = timedelta(days=7)
_TOP_KEYS = ("trunks", "compliance")
_TRUNK_KEYS = ("cps", "max_live_calls")
_COMPLIANCE_KEYS = ("per_number", "hours", "holidays", "require_consent")
_TRUNK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", re.ASCII)

Week = tuple[tuple[words.Range, ...], ...]


def trunk_name(trunk: str | None) -> str:
    """The name a campaign's trunk goes by in limits, keys and counts (`gateway.trunk`, or
    `default` when it names none)."""
    return trunk or DEFAULT


@dataclass(frozen=True)
class TrunkLimit:
    """A trunk's shared limits; None leaves one to the next fallback (or unlimited)."""

    cps: float | None = None
    max_live_calls: int | None = None

    def over(self, fallback: TrunkLimit) -> TrunkLimit:
        """These limits, each one left out taken from `fallback`."""
        return TrunkLimit(
            self.cps if self.cps is not None else fallback.cps,
            self.max_live_calls if self.max_live_calls is not None else fallback.max_live_calls,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"cps": self.cps, "max_live_calls": self.max_live_calls}


@dataclass(frozen=True)
class Compliance:
    """Rules on every call of the account, on top of each campaign's own."""

    per_number: FrequencyCaps = field(default_factory=FrequencyCaps)
    hours: Mapping[str, Week] = field(default_factory=lambda: MappingProxyType({}))
    holidays: tuple[str, ...] = ()
    require_consent: bool = False

    def hours_for(self, region: str | None) -> tuple[str, Week] | None:
        """(key, weekly hours) that apply to a contact of `region`: its own, its country's, else
        the default; None when no hours apply."""
        if region:
            for key in (region, region[:2]):
                if key in self.hours:
                    return key, self.hours[key]
        return (DEFAULT, self.hours[DEFAULT]) if DEFAULT in self.hours else None

    @property
    def active(self) -> bool:
        """Whether any rule can hold a contact (callers skip the account gates if not)."""
        return bool(self.per_number.capped or self.hours or self.holidays or self.require_consent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_number": self.per_number.to_dict(),
            "hours": {key: _hours_text(week) for key, week in self.hours.items()},
            "holidays": list(self.holidays),
            "require_consent": self.require_consent,
        }


@dataclass(frozen=True)
class AccountPolicy:
    """The whole validated document; the default value holds no rule at all."""

    trunks: Mapping[str, TrunkLimit] = field(default_factory=lambda: MappingProxyType({}))
    compliance: Compliance = field(default_factory=Compliance)

    def trunk_limit(self, trunk: str | None, environment: TrunkLimit) -> TrunkLimit:
        """The limits of `trunk` (None: the campaign names none): its own entry, then
        `default`, then the environment's, field by field."""
        fallback = self.trunks.get(DEFAULT, TrunkLimit()).over(environment)
        own = self.trunks.get(trunk_name(trunk))
        return fallback if own is None else own.over(fallback)

    @classmethod
    def from_dict(cls, data: object) -> AccountPolicy:
        """Validate a whole document (None or {} means no rules); SpecInvalid lists every
        problem as `<path>: <message>`."""
        if data is None:
            return cls()
        problems = list(number_problems(data))
        if problems:
            raise SpecInvalid(problems)
        block = read_block(data, "account", _TOP_KEYS, problems)
        if block is None:
            raise SpecInvalid(problems)
        problems = [p.removeprefix("account.") for p in problems]
        trunks = _trunks(block.get("trunks"), problems)
        compliance = _compliance(block.get("compliance"), problems)
        if problems:
            raise SpecInvalid(problems)
        return cls(MappingProxyType(trunks), compliance)

    def to_dict(self) -> dict[str, Any]:
        """The document with every default filled in; `from_dict(to_dict())` gives an equal one."""
        return {
            "trunks": {name: limit.to_dict() for name, limit in sorted(self.trunks.items())},
            "compliance": self.compliance.to_dict(),
        }


def _trunks(data: object, problems: list[str]) -> dict[str, TrunkLimit]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        problems.append('trunks: must map trunk names to limits, e.g. {"default": {"cps": 20}}')
        return {}
    out: dict[str, TrunkLimit] = {}
    for name, raw in data.items():
        path = f"trunks.{name}"
        if not isinstance(name, str) or not _TRUNK_NAME.fullmatch(name):
            problems.append(f"{path}: not a trunk name (letters, digits, . _ : -)")
            continue
        block = read_block(raw, path, _TRUNK_KEYS, problems)
        if block is None:
            continue
        cps, live = block.get("cps"), block.get("max_live_calls")
        if cps is not None and (
            isinstance(cps, bool) or not isinstance(cps, int | float) or not 0 < cps <= MAX_CPS
        ):
            problems.append(f"{path}.cps: {shown(cps)} is not a number above 0, at most {MAX_CPS}")
            cps = None
        if live is not None and (isinstance(live, bool) or not isinstance(live, int) or live < 1):
            problems.append(f"{path}.max_live_calls: must be a positive integer")
            live = None
        out[name] = TrunkLimit(None if cps is None else float(cps), live)
    return out


def _compliance(data: object, problems: list[str]) -> Compliance:
    if data is None:
        return Compliance()
    block = read_block(data, "compliance", _COMPLIANCE_KEYS, problems)
    if block is None:
        return Compliance()
    caps = FrequencyCaps()
    if block.get("per_number") is not None:
        path = "compliance.per_number"
        capped = read_block(block["per_number"], path, CAP_KEYS, problems)
        if capped is not None:
            caps = FrequencyCaps.read(capped, path, problems)
            if caps.min_gap is not None and caps.min_gap > MAX_MIN_GAP:
                problems.append(f"{path}.min_gap: must be at most 7d")
    consent = block.get("require_consent", False)
    if not isinstance(consent, bool):
        problems.append("compliance.require_consent: must be true or false")
        consent = False
    return Compliance(
        per_number=caps,
        hours=MappingProxyType(_hours(block.get("hours"), problems)),
        holidays=_countries(block.get("holidays"), problems),
        require_consent=consent,
    )


def _hours(data: object, problems: list[str]) -> dict[str, Week]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        problems.append(
            'compliance.hours: must map regions to hours, e.g. {"default": "08:00-21:00"}'
        )
        return {}
    out: dict[str, Week] = {}
    for key, value in data.items():
        path = f"compliance.hours.{key}"
        name = key if key == DEFAULT else region_code(str(key))
        if name is None or name != key:
            problems.append(f'{path}: not "default" or a region code such as US or US-FL')
            continue
        if isinstance(value, str | list):
            day = words.merged(words.ranges(value, path, problems))
            out[name] = (day,) * 7
        else:
            out[name] = words.hours(value, path, problems)
    return out


def _countries(data: object, problems: list[str]) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list) or not all(isinstance(c, str) for c in data):
        problems.append('compliance.holidays: must be a list of country codes, e.g. ["US", "GB"]')
        return ()
    codes = [c.strip().upper() for c in data]
    for i, code in enumerate(codes):
        if public_holidays.unknown([code]):
            problems.append(
                f"compliance.holidays[{i}]: {shown(data[i])} is not a country with a known "
                "holiday calendar (ISO 3166 alpha-2, such as US or GB)"
            )
    return tuple(dict.fromkeys(codes))


def _hours_text(week: Week) -> object:
    """The weekly hours as the document spells them: one string when every day is the same."""
    spelled = CallingWindow(hours=week).to_dict()["hours"]
    return spelled.get("mon-sun", spelled)
