"""Live progress bars for a running campaign, drawn from `campaign_status` (what `status` shows).

Bars: contacts done (of all contacts), contacts in flight (of the live-call cap, which the
dispatcher keeps queued plus live attempts under), contacts waiting for a retry, calls per
second (of the configured limit) and live calls (of the cap); a line under them gives every
waiting reason, so contacts held by their calling window are visible too.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from campaign.domain.states import ContactState
from campaign.services.reporting import CampaignStatus


class ProgressView:
    """`with ProgressView(console, contacts, cps, cap) as view: view.update(status)`."""

    def __init__(self, console: Console, contacts: int, cps_limit: float, live_cap: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description:>18}"),
            BarColumn(bar_width=36),
            TextColumn("{task.fields[shown]}"),
            console=console,
            auto_refresh=False,
        )
        self._elapsed = Progress(TimeElapsedColumn(), console=console, auto_refresh=False)
        self._elapsed.add_task("", total=None)
        self._line = Text()
        self._live = Live(
            Group(self._progress, self._line, self._elapsed),
            console=console,
            refresh_per_second=4,
            transient=False,
        )
        add = self._progress.add_task
        self._done = add("contacts done", total=max(contacts, 1), shown="")
        self._flight = add("in flight", total=live_cap, shown="")
        self._retry = add("waiting for retry", total=max(contacts, 1), shown="")
        self._cps = add("calls/s", total=cps_limit, shown="")
        self._live_calls = add("live calls", total=live_cap, shown="")
        self._limits = (contacts, cps_limit, live_cap)

    def __enter__(self) -> ProgressView:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()

    def _set(self, task: TaskID, value: float, shown: str) -> None:
        self._progress.update(task, completed=value, shown=shown)

    def update(self, status: CampaignStatus) -> None:
        """Redraw from one status reading."""
        contacts, cps_limit, cap = self._limits
        total = status.total_contacts or contacts
        in_flight = status.contacts.get(ContactState.IN_FLIGHT.value, 0)
        retry = status.waiting.get("retry", 0)
        self._progress.update(self._done, total=max(total, 1))
        self._set(self._done, status.finished_contacts, f"{status.finished_contacts:,} / {total:,}")
        self._set(self._flight, in_flight, f"{in_flight}")
        self._set(self._retry, retry, f"{retry:,}")
        self._set(
            self._cps, status.calls_per_second, f"{status.calls_per_second:.1f} / {cps_limit:g}"
        )
        self._set(self._live_calls, status.live_calls, f"{status.live_calls} / {cap}")
        waiting = ", ".join(f"{why} {n:,}" for why, n in sorted(status.waiting.items())) or "none"
        self._line.plain = (
            f"{'':>18}  campaign {status.id} {status.state}; {status.attempts:,} attempts; "
            f"waiting: {waiting}"
        )
        self._live.refresh()
