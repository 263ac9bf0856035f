"""What the demo does to its campaign, each step one transaction through the operator services.

The demo creates, uploads, starts, pauses and exports through the same services as `campaign
create/upload/start/pause/export`, so it shows the engine's real behaviour; only the "has it
settled" question is the demo's own, asked straight of the contacts table.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import and_, func, or_, select

from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import ContactRow
from campaign.domain.states import CampaignState, ContactState
from campaign.runtime import Runtime
from campaign.services import lifecycle
from campaign.services.campaigns import CampaignView, create_campaign
from campaign.services.dnc_admin import import_numbers
from campaign.services.export import write_export
from campaign.services.reporting import CampaignStatus, campaign_status
from campaign.services.upload_report import UploadReport
from campaign.services.uploads import import_contacts


def create(runtime: Runtime, document: dict[str, Any]) -> CampaignView:
    """Store the campaign in `draft`."""
    with transaction(runtime.sessions) as session:
        return create_campaign(session, document)


def list_dnc(runtime: Runtime, dnc_file: Path) -> int:
    """Put the demo's do-not-call numbers on the list; how many were added."""
    with transaction(runtime.sessions) as session, dnc_file.open("rb") as fh:
        return import_numbers(session, fh, now=utcnow(), name=dnc_file.name).added


def upload_and_start(
    runtime: Runtime, campaign_id: int, contacts: IO[bytes], *, name: str
) -> UploadReport:
    """Upload the contacts, then start the campaign (two transactions, as an operator would)."""
    with transaction(runtime.sessions) as session:
        upload = import_contacts(session, campaign_id, contacts, now=utcnow(), name=name)
    with transaction(runtime.sessions) as session:
        lifecycle.start(session, campaign_id, now=utcnow())
    return upload


def settled(runtime: Runtime, campaign_id: int, horizon: timedelta) -> bool:
    """Nothing in flight and nothing due before `horizon` from now."""
    due_by = utcnow() + horizon
    with runtime.sessions() as session:
        busy = session.scalar(
            select(func.count())
            .select_from(ContactRow)
            .where(
                ContactRow.campaign_id == campaign_id,
                or_(
                    ContactRow.state == ContactState.IN_FLIGHT.value,
                    and_(
                        ContactRow.state == ContactState.PENDING.value,
                        ContactRow.next_due_at <= due_by,
                    ),
                ),
            )
        )
    return not busy


def status(runtime: Runtime, campaign_id: int) -> CampaignStatus:
    """The campaign's status without a forecast: polled every half second for the progress bars,
    which show none."""
    with runtime.sessions() as session:
        return campaign_status(session, campaign_id, utcnow(), forecast=False)


def pause_if_running(runtime: Runtime, campaign_id: int, reason: str) -> None:
    """Pause the campaign if it still runs, so it never dials once the demo is gone."""
    with transaction(runtime.sessions) as session:
        state = campaign_status(session, campaign_id, utcnow(), forecast=False).state
        if state == CampaignState.RUNNING.value:
            lifecycle.pause(session, campaign_id, reason=reason)


def export(runtime: Runtime, data_dir: Path, campaign_id: int) -> tuple[Path, int]:
    """Write the per-attempt export into the data folder; its path and row count."""
    path = (data_dir / "exports" / f"campaign-{campaign_id}.csv").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with transaction(runtime.sessions) as session, path.open("w", newline="") as fh:
        return path, write_export(session, campaign_id, fh)
