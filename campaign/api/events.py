"""The events outbox over HTTP: list a campaign's events with their delivery state, replay them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from campaign.api.campaigns import CampaignIdPath, Limit, Offset, page_of
from campaign.api.deps import ActorDep, ApiRoute, Operator, Reader, RuntimeDep, acting
from campaign.api.responses import problem_responses
from campaign.api.schemas import Page
from campaign.db.engine import transaction
from campaign.services import event_reads
from campaign.services.event_reads import EventView, Replayed

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Reader],
    route_class=ApiRoute,
    responses=problem_responses(401, 403, 404, 422),
)


class EventPage(Page):
    items: list[EventView]


class ReplayRequest(BaseModel):
    """Which events to send again: every delivered or dead one, or those created since `since`."""

    since: datetime | None = Field(default=None, description="ISO time with offset")


@router.get("/campaigns/{campaign_id}/events")
def list_events(
    campaign_id: CampaignIdPath,
    runtime: RuntimeDep,
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> EventPage:
    """The campaign's events, oldest first, with their delivery state."""
    with transaction(runtime.sessions) as session:
        total, items = event_reads.list_events(
            session, campaign_id, state=state, limit=limit, offset=offset
        )
    return EventPage(items=items, **page_of(total, limit, offset))


@router.post("/campaigns/{campaign_id}/events/replay", dependencies=[Operator])
def replay(
    campaign_id: CampaignIdPath,
    runtime: RuntimeDep,
    actor: ActorDep,
    body: Annotated[ReplayRequest | None, Body()] = None,
) -> Replayed:
    """Queue delivered and dead events again (same ids and order): `campaign events replay`."""
    since = body.since if body is not None else None
    if since is not None:
        since = event_reads.parse_since(since.isoformat())
    with acting(runtime, actor) as session:
        return event_reads.replay(session, campaign_id, since=since)
