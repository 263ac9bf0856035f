"""How a forecast reads to a person: a few labelled lines, shared by `forecast` and `status`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

_SHOWN_DAYS = 7


def _when(iso: str | None) -> str:
    if iso is None:
        return "never"
    at = datetime.fromisoformat(iso)
    return f"{at:%Y-%m-%d %H:%M} {at.tzname() or ''}".rstrip()


SUMMARY = ("finish", "calls left", "reached", "limited by", "never")


def forecast_rows(data: dict[str, Any], *, summary: bool = False) -> list[tuple[str, str]]:
    """(label, text) lines for a forecast's JSON (`CampaignForecast.to_dict`); `summary` keeps
    the lines `status` shows."""
    finish, utc = data["finish"], data["finish_utc"]
    rows = [
        (
            "finish",
            f"{_when(finish['p50'])} (p10 {_when(finish['p10'])}, p90 {_when(finish['p90'])}); "
            f"UTC {_when(utc['p50'])}",
        ),
        (
            "calls left",
            f"{data['calls_remaining']['p50']:,} (p90 {data['calls_remaining']['p90']:,})",
        ),
        (
            "reached",
            f"{data['contacts_reached']['p50']:,} (p90 {data['contacts_reached']['p90']:,})",
        ),
        ("limited by", data["limited_by"] or "-"),
        ("basis", data["basis"]),
    ]
    if data["outcomes"]:
        shares = sorted(data["outcomes"].items(), key=lambda kv: -kv[1])
        rows.append(("outcomes", ", ".join(f"{k} {v:.0%}" for k, v in shares)))
    rows += [("never", f"{n['contacts']:,} contacts: {n['why']}") for n in data["never_finishes"]]
    days = data["by_day"]
    for day in days[:_SHOWN_DAYS]:
        rows.append((day["date"], f"{day['calls']:,} calls, {day['reached']:,} reached"))
    if len(days) > _SHOWN_DAYS:
        rows.append(("", f"… {len(days) - _SHOWN_DAYS} more days (--json for all)"))
    rows += [("assumes", text) for text in data["assumptions"]]
    return [row for row in rows if row[0] in SUMMARY] if summary else rows
