"""`GET /api/v1/campaigns/{id}/forecast`: the campaign forecast, for any `read` key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from campaign.api.campaigns import CampaignIdPath
from campaign.api.deps import ApiRoute, Reader, RuntimeDep
from campaign.api.forecast_schemas import Forecast
from campaign.api.responses import problem_responses
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.domain.pacing import MAX_CPS
from campaign.services.forecast import forecast_campaign

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Reader],
    route_class=ApiRoute,
    responses=problem_responses(401, 404, 422),
)


@router.get("/campaigns/{campaign_id}/forecast")
def forecast(
    campaign_id: CampaignIdPath,
    runtime: RuntimeDep,
    cps: Annotated[float | None, Query(gt=0, le=MAX_CPS, description="what-if pace")] = None,
    max_live_calls: Annotated[int | None, Query(ge=1, description="what-if live-call cap")] = None,
) -> Forecast:
    """When the campaign will be done, how many calls that takes and how many people it reaches
    (percentiles of seeded Monte-Carlo runs); `cps`/`max_live_calls` compare other pacing."""
    with transaction(runtime.sessions) as session:
        result = forecast_campaign(
            session, campaign_id, now=utcnow(), cps=cps, max_live_calls=max_live_calls
        )
    return Forecast.model_validate(result.to_dict())
