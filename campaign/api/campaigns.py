"""Operator routes under `/api/v1`: the CLI's verbs over HTTP, with API-key scopes.

Each handler opens one transaction, calls one service and returns a schema; engine errors become
problem+json through `api.problems`. Handlers are sync (FastAPI runs them in its thread pool)
because the services are. Every route needs at least a `read` key; changes need `operator`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Path, Query, UploadFile
from fastapi.responses import StreamingResponse

from campaign.api import schemas
from campaign.api.deps import (
    ActorDep,
    ApiRoute,
    Operator,
    Reader,
    RuntimeDep,
    UploadRoute,
    acting,
)
from campaign.api.responses import problem_responses
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.services import campaigns, dnc_admin, lifecycle, reporting, reruns, uploads
from campaign.services.campaigns import CampaignView
from campaign.services.export import export_chunks
from campaign.services.lifecycle import LifecycleResult
from campaign.services.reruns import RerunResult

_ERRORS = problem_responses(401, 403, 404, 409, 413, 422)

router = APIRouter(prefix="/api/v1", dependencies=[Reader], responses=_ERRORS)
_json = APIRouter(route_class=ApiRoute)
_files = APIRouter(route_class=UploadRoute)

CampaignIdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="campaign id")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31)]
SpecBody = Annotated[dict[str, Any], Body(description="a campaign spec (docs/operator.md))")]


def page_of(total: int, limit: int, offset: int) -> dict[str, Any]:
    following = offset + limit
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
    }


@_json.post("/campaigns", status_code=201, dependencies=[Operator])
def create_campaign(
    spec: SpecBody, runtime: RuntimeDep, actor: ActorDep
) -> schemas.CampaignCreated:
    """Create a campaign (state `draft`) from a spec validated in full."""
    with acting(runtime, actor) as session:
        view = campaigns.create_campaign(session, spec)
    return schemas.CampaignCreated(id=view.id, spec=view.spec)


@_json.get("/campaigns")
def list_campaigns(
    runtime: RuntimeDep, limit: Limit = 50, offset: Offset = 0
) -> schemas.CampaignPage:
    """Campaigns, newest first."""
    with transaction(runtime.sessions) as session:
        views, total = campaigns.list_campaigns(session, limit=limit, offset=offset)
    return schemas.CampaignPage(items=views, **page_of(total, limit, offset))


@_json.get("/campaigns/{campaign_id}")
def get_campaign(campaign_id: CampaignIdPath, runtime: RuntimeDep) -> CampaignView:
    """One campaign with its stored spec."""
    with transaction(runtime.sessions) as session:
        view = campaigns.get_campaign(session, campaign_id)
    return view


@_json.patch("/campaigns/{campaign_id}", dependencies=[Operator])
def edit_campaign(
    campaign_id: CampaignIdPath, spec: SpecBody, runtime: RuntimeDep, actor: ActorDep
) -> CampaignView:
    """Replace the pacing, retry and window blocks; the engine uses them on its next decision."""
    with acting(runtime, actor) as session:
        view = campaigns.edit_campaign(session, campaign_id, spec)
    return view


@_json.post("/campaigns/{campaign_id}/start", dependencies=[Operator])
def start(campaign_id: CampaignIdPath, runtime: RuntimeDep, actor: ActorDep) -> LifecycleResult:
    """Start (one-shot: run 1 now; recurring: scheduled). Repeating it changes nothing."""
    with acting(runtime, actor) as session:
        return lifecycle.start(session, campaign_id, now=utcnow())


@_json.post("/campaigns/{campaign_id}/pause", dependencies=[Operator])
def pause(campaign_id: CampaignIdPath, runtime: RuntimeDep, actor: ActorDep) -> LifecycleResult:
    """Stop new dial-outs; calls already out finish."""
    with acting(runtime, actor) as session:
        return lifecycle.pause(session, campaign_id)


@_json.post("/campaigns/{campaign_id}/resume", dependencies=[Operator])
def resume(campaign_id: CampaignIdPath, runtime: RuntimeDep, actor: ActorDep) -> LifecycleResult:
    """Continue a paused campaign where it stopped."""
    with acting(runtime, actor) as session:
        return lifecycle.resume(session, campaign_id)


@_json.post("/campaigns/{campaign_id}/cancel", dependencies=[Operator])
def cancel(campaign_id: CampaignIdPath, runtime: RuntimeDep, actor: ActorDep) -> LifecycleResult:
    """Cancel for good: contacts not yet finished are closed."""
    with acting(runtime, actor) as session:
        return lifecycle.cancel(session, campaign_id, now=utcnow())


@_json.post("/campaigns/{campaign_id}/rerun", dependencies=[Operator])
def rerun(
    campaign_id: CampaignIdPath,
    runtime: RuntimeDep,
    actor: ActorDep,
    body: Annotated[schemas.RerunRequest | None, Body()] = None,
) -> RerunResult:
    """Open a new run of a completed or cancelled campaign for the contacts whose last outcome is
    in `outcomes` (default: every contact not done or suppressed); 409 says why when it cannot."""
    names = body.outcomes if body is not None else None
    outcomes = None if names is None else reruns.parse_outcomes(names, "outcomes")
    with acting(runtime, actor) as session:
        result = reruns.rerun(session, campaign_id, now=utcnow(), outcomes=outcomes)
    return result


@_files.post("/campaigns/{campaign_id}/contacts", dependencies=[Operator])
def upload_contacts(
    campaign_id: CampaignIdPath,
    file: Annotated[UploadFile, File(description="contacts CSV (header row with `phone`)")],
    runtime: RuntimeDep,
    actor: ActorDep,
    region: Annotated[str | None, Query(max_length=3)] = None,
) -> schemas.UploadReport:
    """Import contacts from a CSV; the report lists every rejected row with its reason, and
    `note` says when the new contacts are called if the campaign had completed."""
    with acting(runtime, actor) as session:
        report = uploads.import_contacts(
            session,
            campaign_id,
            file.file,
            now=utcnow(),
            default_region=region,
            name=file.filename or "upload",
        )
        reruns.after_upload(session, campaign_id, report, now=utcnow())
    return schemas.UploadReport(**report.to_dict())


@_json.get("/campaigns/{campaign_id}/status")
def status(campaign_id: CampaignIdPath, runtime: RuntimeDep) -> schemas.Status:
    """What `campaign status --json` prints."""
    with transaction(runtime.sessions) as session:
        report = reporting.campaign_status(session, campaign_id, utcnow(), runtime.read_breaker)
    return schemas.Status(**report.to_dict())


@_json.get(
    "/campaigns/{campaign_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "one row per attempt"}},
)
def export(campaign_id: CampaignIdPath, runtime: RuntimeDep) -> StreamingResponse:
    """One CSV row per attempt, streamed from a server-side cursor."""
    with transaction(runtime.sessions) as session:
        campaigns.get_campaign(session, campaign_id)  # a 404 before the stream starts

    def chunks() -> Iterator[str]:
        with transaction(runtime.sessions) as session:
            yield from export_chunks(session, campaign_id)

    headers = {"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'}
    return StreamingResponse(chunks(), media_type="text/csv", headers=headers)


@_json.get("/dnc")
def list_dnc(
    runtime: RuntimeDep,
    include_expired: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> schemas.DncPage:
    """Do-not-call numbers by phone; expired entries only when asked."""
    with transaction(runtime.sessions) as session:
        entries, total = dnc_admin.list_numbers(
            session, now=utcnow(), limit=limit, offset=offset, include_expired=include_expired
        )
    return schemas.DncPage(items=entries, **page_of(total, limit, offset))


@_json.post("/dnc", dependencies=[Operator])
def add_dnc(body: schemas.DncAdd, runtime: RuntimeDep, actor: ActorDep) -> schemas.DncAdded:
    """List numbers (all or none); an existing entry takes the new expiry and note."""
    now = utcnow()
    until = dnc_admin.parse_expiry(body.expires, now) if body.expires else None
    with acting(runtime, actor) as session:
        phones = dnc_admin.add_numbers(
            session,
            body.numbers,
            now=now,
            expires_at=until,
            note=body.note,
            default_region=body.region,
        )
    return schemas.DncAdded(added=phones)


@_json.delete("/dnc/{phone}", dependencies=[Operator])
def remove_dnc(
    phone: Annotated[str, Path(max_length=64)],
    runtime: RuntimeDep,
    actor: ActorDep,
    region: Annotated[str | None, Query(max_length=3)] = None,
) -> schemas.DncRemoved:
    """Unlist a number; `removed` is 0 when it was not listed."""
    with acting(runtime, actor) as session:
        removed = dnc_admin.remove_numbers(session, [phone], default_region=region)
    return schemas.DncRemoved(removed=removed)


@_files.post("/dnc/import", dependencies=[Operator])
def import_dnc(
    file: Annotated[UploadFile, File(description="CSV: phone[,expires_at][,note]")],
    runtime: RuntimeDep,
    actor: ActorDep,
    region: Annotated[str | None, Query(max_length=3)] = None,
) -> schemas.DncImport:
    """Import do-not-call numbers; bad rows are reported, the rest listed."""
    with acting(runtime, actor) as session:
        report = dnc_admin.import_numbers(
            session,
            file.file,
            now=utcnow(),
            default_region=region,
            name=file.filename or "import",
        )
    return schemas.DncImport(**report.to_dict())


@_json.post("/policy/check")
def policy_check(spec: SpecBody) -> schemas.PolicyCheck:
    """Validate a spec without storing it; 422 lists every problem with its path."""
    return schemas.PolicyCheck(valid=True, spec=campaigns.validate_spec(spec))


router.include_router(_json)
router.include_router(_files)
