"""Read routes over a campaign's attempts: the paged table, one attempt's timeline, the pace.

Same rules as `api.campaigns`: a `read` key is enough, one transaction per request, engine errors
become problem+json. The console polls `pace` and the first page of attempts while a campaign is
on screen, so both are bounded: a page is at most 500 rows, the pace window at most an hour.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query

from campaign.api import read_schemas as schemas
from campaign.api.campaigns import CampaignIdPath, Limit, Offset, page_of
from campaign.api.deps import ApiRoute, Reader, RuntimeDep
from campaign.api.responses import problem_responses
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.domain.outcomes import OutcomeClass
from campaign.errors import InvalidInput
from campaign.services import attempts, pace

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Reader],
    responses=problem_responses(401, 404, 422),
    route_class=ApiRoute,
)

_OUTCOMES = (*(outcome.value for outcome in OutcomeClass), attempts.IN_PROGRESS)
OutcomeQuery = Annotated[
    str | None,
    Query(
        max_length=16,
        description=f"only attempts of this outcome class ({', '.join(_OUTCOMES)})",
    ),
]


@router.get("/campaigns/{campaign_id}/attempts")
def list_attempts(
    campaign_id: CampaignIdPath,
    runtime: RuntimeDep,
    outcome: OutcomeQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> schemas.AttemptPage:
    """The campaign's attempts, newest first; `outcome=in_progress` for those not ended yet."""
    if outcome is not None and outcome not in _OUTCOMES:
        raise InvalidInput(f"outcome: {outcome!r} is not one of {', '.join(_OUTCOMES)}")
    with transaction(runtime.sessions) as session:
        views, total = attempts.list_attempts(
            session, campaign_id, outcome=outcome, limit=limit, offset=offset
        )
    return schemas.AttemptPage(items=views, **page_of(total, limit, offset))


@router.get("/campaigns/{campaign_id}/attempts/{attempt_id}")
def get_attempt(
    campaign_id: CampaignIdPath,
    attempt_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="attempt id")],
    runtime: RuntimeDep,
) -> attempts.AttemptDetail:
    """One attempt: its timeline (queued → sent → answered → ended), SIP code, AMD result, the
    retry decision, and every notification received for it."""
    with transaction(runtime.sessions) as session:
        return attempts.attempt_detail(session, campaign_id, attempt_id)


@router.get("/campaigns/{campaign_id}/pace")
def get_pace(
    campaign_id: CampaignIdPath,
    runtime: RuntimeDep,
    window: Annotated[int, Query(ge=10, le=3600, description="seconds of history")] = 600,
    step: Annotated[int, Query(ge=1, le=600, description="seconds per interval")] = 5,
) -> pace.Pace:
    """Dial-outs per second and peak live calls per interval over the last `window` seconds,
    from the attempts in PostgreSQL, with the configured limits to draw them against."""
    if step > window:
        raise InvalidInput(f"step: {step} s is longer than the window ({window} s)")
    with transaction(runtime.sessions) as session:
        return pace.campaign_pace(
            session,
            campaign_id,
            now=utcnow(),
            window=timedelta(seconds=window),
            step=timedelta(seconds=step),
        )
