"""Contacts for operators and CRMs under `/api/v1/campaigns/{id}/contacts`: the paged list (by
state, last outcome, disposition), one contact with its attempts, a disposition, a priority.

A contact is named by `ref`: its `external_id`, else its number in E.164 (`+12015550123`; a `+`
in a path needs no escaping). Reads need a `read` key, changes an `operator` key, and changes are
in the audit trail under the key's name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from campaign.api.campaigns import CampaignIdPath, Limit, Offset, page_of
from campaign.api.deps import ActorDep, ApiRoute, Operator, Reader, RuntimeDep, acting
from campaign.api.disposition import BODY_SCHEMA, invalid, read_request
from campaign.api.responses import problem_responses
from campaign.api.schemas import Page
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.errors import InvalidInput
from campaign.services import contacts, dispositions
from campaign.services.contacts import PRIORITY_RANGE, ContactDetail, ContactView
from campaign.services.dispositions import DispositionAnswer

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Reader],
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    route_class=ApiRoute,
)

RefPath = Annotated[
    str,
    Path(
        min_length=1, max_length=200, description="the contact's external_id, or its E.164 number"
    ),
]
Word = Annotated[str | None, Query(max_length=16)]


class ContactPage(Page):
    items: list[ContactView]


class PriorityChange(BaseModel):
    """A new priority: higher is called first among contacts due at once."""

    priority: int = Field(ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1])


@router.get("/campaigns/{campaign_id}/contacts")
def list_contacts(
    campaign_id: CampaignIdPath,
    runtime: RuntimeDep,
    state: Word = None,
    outcome: Word = None,
    disposition: Word = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ContactPage:
    """Contacts in upload order, optionally of one state, last outcome class and disposition."""
    with transaction(runtime.sessions) as session:
        rows, total = contacts.list_contacts(
            session,
            campaign_id,
            state=state,
            outcome=outcome,
            disposition=disposition,
            limit=limit,
            offset=offset,
        )
    return ContactPage(items=rows, **page_of(total, limit, offset))


@router.get("/campaigns/{campaign_id}/contacts/{ref}")
def get_contact(campaign_id: CampaignIdPath, ref: RefPath, runtime: RuntimeDep) -> ContactDetail:
    """One contact with its metadata and every attempt, oldest first (each with its outcome and
    disposition)."""
    with transaction(runtime.sessions) as session:
        return contacts.contact_detail(session, campaign_id, ref)


@router.patch("/campaigns/{campaign_id}/contacts/{ref}", dependencies=[Operator])
def change_contact(
    campaign_id: CampaignIdPath,
    ref: RefPath,
    change: PriorityChange,
    runtime: RuntimeDep,
    actor: ActorDep,
) -> ContactView:
    """Change a contact's priority (higher first among contacts due at once)."""
    with acting(runtime, actor) as session:
        return contacts.set_priority(session, campaign_id, ref, change.priority)


@router.post(
    "/campaigns/{campaign_id}/contacts/{ref}/disposition",
    dependencies=[Operator],
    response_model=DispositionAnswer,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": BODY_SCHEMA}}}
    },
)
def post_disposition(
    campaign_id: CampaignIdPath,
    ref: RefPath,
    body: Annotated[dict[str, Any], Body(include_in_schema=False)],
    runtime: RuntimeDep,
    actor: ActorDep,
) -> Any:
    """The bot's dispositions, for operators and CRMs: recorded on the contact's latest attempt
    (replacing the bot's), or on the contact alone when it was never called. The same request
    again changes nothing."""
    parsed = read_request(body)
    if isinstance(parsed, JSONResponse):
        return parsed
    try:
        with acting(runtime, actor) as session:
            answer = dispositions.dispose_contact(session, campaign_id, ref, parsed, now=utcnow())
    except InvalidInput as exc:
        return invalid(exc)
    return answer
