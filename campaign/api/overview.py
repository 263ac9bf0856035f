"""Read routes the console starts from: who the key is, every campaign at a glance, and a spec
read from pasted YAML or JSON text.

`me` lets a page show or hide actions without trying one; the API still enforces scopes on every
route, so a page that showed a button anyway would get 403. `policy/parse` reads text with the
CLI's reader (`services.spec_text`), so a pasted spec means what the same file means to
`campaign create -f`; checking and creating then go through the JSON routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from campaign.api import read_schemas as schemas
from campaign.api.campaigns import CampaignIdPath, Limit, Offset, page_of
from campaign.api.deps import ApiRoute, KeyScope, Reader, RuntimeDep
from campaign.api.responses import problem_responses
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.errors import InvalidInput
from campaign.services import overview
from campaign.services.spec_text import as_json_document, read_spec_text

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Reader],
    responses=problem_responses(401, 422),
    route_class=ApiRoute,
)

_TEXT_BODY = {
    "requestBody": {
        "required": True,
        "description": "a campaign spec (or just its blocks) as YAML or JSON text",
        "content": {
            media: {"schema": {"type": "string"}}
            for media in ("application/yaml", "text/plain", "application/json")
        },
    }
}


@router.get("/me")
def whoami(scope: KeyScope) -> schemas.KeyScope:
    """The scope of the key this request carries."""
    return schemas.KeyScope(scope=scope)


@router.get("/overview")
def campaign_overview(
    runtime: RuntimeDep, limit: Limit = 50, offset: Offset = 0
) -> schemas.OverviewPage:
    """Campaigns, newest first, each with state (and why), progress, calls per second and live
    calls against their limits, and the next run of a recurring one."""
    with transaction(runtime.sessions) as session:
        summaries, total = overview.campaign_overview(
            session, now=utcnow(), limit=limit, offset=offset
        )
    return schemas.OverviewPage(items=summaries, **page_of(total, limit, offset))


@router.get("/campaigns/{campaign_id}/waiting", responses=problem_responses(404))
def waiting(campaign_id: CampaignIdPath, runtime: RuntimeDep) -> schemas.WaitingList:
    """Why pending contacts wait (window, retry, frequency, ...), with counts and the earliest
    time one of them is due again."""
    with transaction(runtime.sessions) as session:
        reasons = overview.waiting_reasons(session, campaign_id)
    return schemas.WaitingList(items=reasons)


@router.post("/policy/parse", openapi_extra=_TEXT_BODY)
async def parse_spec_text(request: Request) -> schemas.SpecDocument:
    """Read YAML or JSON text into the JSON document `policy/check` and `campaigns` take; a
    syntax error names its line and column. Stores and validates nothing."""
    body = await request.body()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("spec: not UTF-8 text") from exc
    document = read_spec_text(text, "spec")
    return schemas.SpecDocument(document=as_json_document(document))
