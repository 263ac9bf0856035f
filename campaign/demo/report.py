"""The demo's closing report: what the campaign did, measured from PostgreSQL, the source of truth.

Counts by state and outcome come from `services.reporting.campaign_status` (the same numbers
`campaign status` shows). The rest are questions only the demo asks, each one query over the
campaign's attempts:

- attempts per contact: how many contacts were dialled 0, 1, 2… times;
- retries and why: every attempt after a contact's first, under the outcome of the attempt
  before it (the outcome the retry policy redialled);
- rates: the peak number of dial-outs in any one-second window (what the limit bounds), the best
  ten-second average (what pacing sustained) and the average over the whole dialling span;
- live calls: the peak number of attempts between their dial-out and their final outcome.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain.states import AttemptState
from campaign.services.reporting import CampaignStatus
from campaign.services.upload_report import UploadReport

_ONE_S = timedelta(seconds=1)
_TEN_S = timedelta(seconds=10)


@dataclass(frozen=True)
class DialStats:
    """Dial-out rates and concurrency, from the attempts' `sending_at`/`ended_at`."""

    dials: int
    average_cps: float
    best_10s_cps: float
    peak_1s: int
    peak_live: int


def _most_in_window(times: list[datetime], width: timedelta) -> int:
    """The largest number of `times` (sorted) inside any half-open window [t, t + width)."""
    best = start = 0
    for end, at in enumerate(times):
        while times[start] <= at - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def _peak_overlap(spans: list[tuple[datetime, datetime | None]], now: datetime) -> int:
    """The most spans open at one instant (an end and a start at the same instant don't meet)."""
    edges = sorted(
        [(start, 1) for start, _ in spans] + [(end or now, -1) for _, end in spans],
        key=lambda edge: (edge[0], edge[1]),
    )
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def dial_stats(session: Session, campaign_id: int, now: datetime) -> DialStats:
    """Rates and peak concurrency of the campaign's dial-outs (attempts that reached `sending`)."""
    rows = session.execute(
        select(AttemptRow.sending_at, AttemptRow.ended_at)
        .where(AttemptRow.campaign_id == campaign_id, AttemptRow.sending_at.is_not(None))
        .order_by(AttemptRow.sending_at)
    ).all()
    starts = [start for start, _ in rows]
    if not starts:
        return DialStats(0, 0.0, 0.0, 0, 0)
    span = (starts[-1] - starts[0]).total_seconds()
    return DialStats(
        dials=len(starts),
        average_cps=round(len(starts) / span, 2) if span > 0 else float(len(starts)),
        best_10s_cps=round(_most_in_window(starts, _TEN_S) / _TEN_S.total_seconds(), 2),
        peak_1s=_most_in_window(starts, _ONE_S),
        peak_live=_peak_overlap([(start, end) for start, end in rows], now),
    )


def attempts_per_contact(session: Session, campaign_id: int) -> dict[int, int]:
    """Number of attempts → number of contacts with that many (0 for never dialled)."""
    counted = (
        select(ContactRow.id, func.count(AttemptRow.id).label("n"))
        .outerjoin(
            AttemptRow,
            (AttemptRow.contact_id == ContactRow.id)
            & (AttemptRow.state != AttemptState.RELEASED.value),
        )
        .where(ContactRow.campaign_id == campaign_id)
        .group_by(ContactRow.id)
        .subquery()
    )
    rows = session.execute(
        select(counted.c.n, func.count()).group_by(counted.c.n).order_by(counted.c.n)
    )
    return {int(n): int(contacts) for n, contacts in rows}


def retries_by_reason(session: Session, campaign_id: int) -> dict[str, int]:
    """Redials, keyed by the outcome of the attempt that preceded each one."""
    previous = (
        select(
            func.lag(func.coalesce(AttemptRow.outcome, "no outcome"))
            .over(partition_by=AttemptRow.contact_id, order_by=AttemptRow.id)
            .label("why")
        )
        .where(
            AttemptRow.campaign_id == campaign_id,
            AttemptRow.state != AttemptState.RELEASED.value,
        )
        .subquery()
    )
    rows = session.execute(
        select(previous.c.why, func.count())
        .where(previous.c.why.is_not(None))
        .group_by(previous.c.why)
    )
    return dict(Counter({str(why): int(n) for why, n in rows}).most_common())


@dataclass
class DemoReport:
    """Everything the demo prints at the end; `to_dict()` is its `--json` form."""

    campaign_id: int
    campaign_state: str
    ended: str  # completed | settled | timed out
    duration_s: float
    servers: str
    contacts: dict[str, int]
    waiting: dict[str, int]
    outcomes: dict[str, int]
    attempts: int
    attempts_per_contact: dict[int, int]
    retries: dict[str, int]
    upload: dict[str, Any]
    dnc_listed: int
    cps_limit: float
    max_live_calls: int
    dial: DialStats
    gateway: dict[str, Any]
    export_path: Path
    export_rows: int
    memory_bytes: int
    memory_processes: int
    memory_by_role: dict[str, int] = field(default_factory=dict)
    memory_pss_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["export_path"] = str(self.export_path)
        return data


def collect(
    session: Session, status: CampaignStatus, now: datetime
) -> tuple[dict[int, int], dict[str, int], DialStats]:
    """The report's own measurements (the rest comes from status, upload and the run)."""
    return (
        attempts_per_contact(session, status.id),
        retries_by_reason(session, status.id),
        dial_stats(session, status.id, now),
    )


def upload_summary(report: UploadReport) -> dict[str, Any]:
    """The upload report as the demo shows it (every rejected row, the duplicates counted)."""
    data = report.to_dict()
    return {key: data[key] for key in ("rows", "accepted", "duplicates", "suppressed", "rejected")}


def _counts_table(title: str, counts: dict[str, int] | dict[int, int], total: int) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_column(justify="right", style="dim")
    for key, value in counts.items():
        share = f"{100 * value / total:.1f} %" if total else ""
        table.add_row(str(key), f"{value:,}", share)
    return table


def render(report: DemoReport, console: Console) -> None:
    """Print the report as a few compact tables."""
    dial = report.dial
    upload = report.upload
    contacts_total = sum(report.contacts.values())
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("campaign", f"{report.campaign_id} ({report.campaign_state}; {report.ended})")
    head.add_row("took", f"{report.duration_s:.0f} s, servers: {report.servers}")
    head.add_row(
        "upload",
        f"{upload['rows']:,} rows: {upload['accepted']:,} accepted, {upload['duplicates']} "
        f"duplicates, {upload['suppressed']} on the do-not-call list "
        f"({report.dnc_listed} numbers listed), {len(upload['rejected'])} rejected",
    )
    head.add_row("dial-outs", f"{dial.dials:,} ({report.attempts:,} attempts)")
    head.add_row(
        "calls/s",
        f"limit {report.cps_limit:g}: peak {dial.peak_1s} in any 1 s, best 10 s average "
        f"{dial.best_10s_cps:g}, whole run {dial.average_cps:g}; the gateway saw at most "
        f"{report.gateway.get('max_cps_1s_window', '?')} in 1 s",
    )
    head.add_row(
        "live calls",
        f"cap {report.max_live_calls}: peak {dial.peak_live} (engine), "
        f"{report.gateway.get('peak_concurrent', '?')} (gateway)",
    )
    by_role = ", ".join(f"{k} {v / 2**20:.0f}" for k, v in report.memory_by_role.items())
    head.add_row(
        "memory",
        f"peak {report.memory_bytes / 2**20:.0f} MiB RSS summed over "
        f"{report.memory_processes} processes ({by_role}); "
        f"{report.memory_pss_bytes / 2**20:.0f} MiB counting shared pages once (PSS)",
    )
    head.add_row("export", f"{report.export_rows:,} attempts → {report.export_path}")
    rejected = Table(title="rejected upload rows", title_justify="left", box=None)
    for column in ("line", "value", "reason"):
        rejected.add_column(column)
    for row in upload["rejected"]:
        rejected.add_row(str(row["line"]), row["value"] or "(empty)", row["reason"])
    grid = Table.grid(padding=(0, 4))
    grid.add_row(
        _counts_table("contacts", report.contacts, contacts_total),
        _counts_table("outcomes (attempts)", report.outcomes, report.attempts),
    )
    grid.add_row(
        _counts_table("attempts per contact", report.attempts_per_contact, contacts_total),
        _counts_table(
            "retries, by the outcome redialled", report.retries, sum(report.retries.values())
        ),
    )
    if report.waiting:
        grid.add_row(_counts_table("still waiting", report.waiting, contacts_total), "")
    console.print(Panel(Group(head, "", grid, "", rejected), title="demo report", expand=False))
