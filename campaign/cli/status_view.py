"""How `campaign status` looks to a person: a summary table, and `--watch` progress bars (rich)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from campaign.cli.forecast_view import forecast_rows
from campaign.domain.states import CampaignState
from campaign.services.reporting import CampaignStatus

_FINAL = (CampaignState.COMPLETED.value, CampaignState.CANCELLED.value)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def _events(outbox: dict[str, Any]) -> str:
    text = f"{outbox['pending']} pending, {outbox['dead']} dead, {outbox['delivered']} delivered"
    if outbox.get("failing_since"):
        text += f"; {outbox['failing']} failing since {outbox['failing_since']}"
    return text


def status_table(status: CampaignStatus) -> Table:
    """Every figure of the status in one two-column table."""
    table = Table(title=f"campaign {status.id} · {status.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    eta = f"{status.eta_seconds:.0f}s" if status.eta_seconds is not None else "-"
    rows = [
        ("state", status.state + (f" ({status.paused_reason})" if status.paused_reason else "")),
        ("contacts", f"{status.total_contacts}: {_pairs(status.contacts)}"),
        ("outcomes", _pairs(status.outcomes)),
        ("dispositions", _pairs(status.dispositions)),
        ("attempts", str(status.attempts)),
        ("live calls", str(status.live_calls)),
        ("calls/s", f"{status.calls_per_second:.2f}"),
        ("eta", eta),
        ("waiting", _pairs(status.waiting)),
    ]
    gateway = status.gateway.get("state")
    if gateway not in (None, "closed"):
        since, probe = status.gateway.get("since"), status.gateway.get("next_probe_at")
        rows.append(("gateway", f"{gateway} since {since}, next probe at {probe}"))
    if any(status.events.values()):
        rows.append(("events", _events(status.events)))
    if status.forecast is not None:
        rows += [(f"forecast {k}", v) for k, v in forecast_rows(status.forecast, summary=True)]
    if status.next_run_at is not None:
        rows.append(("next run", status.next_run_at.isoformat()))
    for run in status.runs[-5:]:
        detail = f"{run.state}, {run.attempts} attempts, {_pairs(run.outcomes)}"
        rows.append((f"run {run.number}", detail + (f" ({run.note})" if run.note else "")))
    for key, value in rows:
        table.add_row(key, value)
    return table


def render_status(status: CampaignStatus) -> None:
    """Print the status once."""
    Console().print(status_table(status))


def watch_status(read: Callable[[], CampaignStatus], *, interval: float, as_json: bool) -> None:
    """Refresh until the campaign completes or is cancelled (or Ctrl-C).

    With `as_json`, one JSON object per line per refresh, for scripts that follow progress.
    """
    try:
        if as_json:
            while True:
                status = read()
                typer.echo(json.dumps(status.to_dict()))
                if status.state in _FINAL:
                    return
                time.sleep(interval)
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        contacts = progress.add_task("contacts finished", total=None)
        status = read()
        with Live(Group(progress, status_table(status)), refresh_per_second=4) as live:
            while True:
                progress.update(
                    contacts, completed=status.finished_contacts, total=status.total_contacts
                )
                live.update(Group(progress, status_table(status)))
                if status.state in _FINAL:
                    return
                time.sleep(interval)
                status = read()
    except KeyboardInterrupt:
        return
