"""What-if forecasts: a spec and a contacts CSV, before anything is created.

The file is read and judged row by row exactly as `campaign upload` would (the same CSV reader,
the same row validation, duplicates by number or `external_id` within the file), but nothing is
stored and no database is needed: the do-not-call list is not consulted, and with no calls seen
yet the forecast rests on its stated assumptions. A recurring spec is forecast for its first run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from campaign.domain.forecast import ContactGroup, forecast
from campaign.domain.forecast_mix import Beliefs, Observations
from campaign.domain.recurrence import next_run
from campaign.domain.spec import parse_spec
from campaign.services.contact_rows import validated_rows
from campaign.services.csv_files import CsvRows, RowProblem, read_header
from campaign.services.forecast import (
    DEFAULT_SEED,
    CampaignForecast,
    assumptions_for,
    plan_for,
)
from campaign.services.uploads import upload_region

NOTES = ("as if started now", "the do-not-call list was not consulted")


@dataclass
class RowsRead:
    """What the upload would have made of the file."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RowProblem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [p.to_dict() for p in self.rejected],
        }


def _groups(
    stream: IO[bytes], name: str, region: str | None, fallback_zone: str, due_in_s: float
) -> tuple[list[ContactGroup], RowsRead]:
    rows = iter(CsvRows(stream, name))
    header = read_header(rows, name)
    read = RowsRead()
    seen: set[str] = set()
    zones: dict[tuple[str, ...], int] = {}
    for _, _, result in validated_rows(
        rows, header=header, region=region, fallback_zone=fallback_zone
    ):
        read.rows += 1
        if isinstance(result, RowProblem):
            read.rejected.append(result)
            continue
        keys = [result.phone] + ([f"id:{result.external_id}"] if result.external_id else [])
        if any(key in seen for key in keys):
            read.duplicates += 1
            continue
        seen.update(keys)
        read.accepted += 1
        zones[result.zones] = zones.get(result.zones, 0) + 1
    groups = [ContactGroup(z, n, due_in_s=due_in_s) for z, n in zones.items()]
    return groups, read


def forecast_what_if(
    document: object,
    stream: IO[bytes],
    *,
    name: str,
    now: datetime,
    default_region: str | None = None,
    cps: float | None = None,
    max_live_calls: int | None = None,
    seed: int = DEFAULT_SEED,
) -> tuple[CampaignForecast, RowsRead]:
    """Forecast `document` (a spec) dialing the contacts of the CSV `stream`; stores nothing.

    Raises `SpecInvalid` for a bad spec and `UploadRefused` for a file the upload would refuse;
    bad rows are reported in `RowsRead`, as the upload reports them.
    """
    spec = parse_spec(document)
    plan = plan_for(spec, cps=cps, max_live_calls=max_live_calls)
    region = upload_region(default_region, spec)
    starts = now
    if spec.schedule is not None:
        starts = next_run(spec.schedule.cron, spec.schedule.timezone, now)
    due_in_s = (starts - now).total_seconds()
    groups, read = _groups(stream, name, region, spec.window.fallback_timezone, due_in_s)
    beliefs = Beliefs(assumptions_for(spec), Observations())
    notes = NOTES if spec.schedule is None else NOTES[1:]
    result = forecast(plan, groups, beliefs, now=now, rng=random.Random(seed), notes=notes)
    return CampaignForecast(result, 1, starts if spec.schedule else None), read
