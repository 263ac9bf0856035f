"""`campaign events …`: the signed events a campaign sends to its CRM (docs/operator.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from campaign.cli.common import CampaignId, JsonFlag, emit, in_transaction
from campaign.services import event_reads


def replay(
    campaign_id: CampaignId,
    since: Annotated[
        str | None,
        typer.Option(help="only events created at or after this ISO time (with offset) or date"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send the campaign's delivered and dead events again (same ids, same order)."""
    at = None if since is None else event_reads.parse_since(since)
    result = in_transaction(lambda s: event_reads.replay(s, campaign_id, since=at))
    text = f"campaign {result.id}: {result.replayed} events queued again"
    emit(as_json, result.to_dict(), text)


def register(app: typer.Typer) -> None:
    """Add the `events` group to the top-level app."""
    events = typer.Typer(help="Signed events to the CRM.", no_args_is_help=True)
    events.command("replay")(replay)
    app.add_typer(events, name="events")
