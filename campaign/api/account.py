"""The account routes: the account policy (`GET`/`PUT /api/v1/account`) and the audit trail
(`GET /api/v1/audit`). Reading needs a `read` key; changing the policy an `operator` key, and the
change is recorded under that key's name."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import AwareDatetime, BaseModel, Field

from campaign.api.deps import ActorDep, ApiRoute, Operator, Reader, RuntimeDep, acting
from campaign.api.responses import problem_responses
from campaign.db.engine import transaction
from campaign.services import account, audit

router = APIRouter(
    prefix="/api/v1",
    dependencies=[Reader],
    responses=problem_responses(401, 403, 413, 422),
    route_class=ApiRoute,
)


class AccountPolicy(BaseModel):
    """The policy in force (version 0: none applied yet) with every default filled in."""

    version: int
    applied_at: datetime | None
    applied_by: str | None = Field(description="the API key's name, or cli:<os user>")
    changed: bool = Field(description="false when a PUT sent the policy already in force")
    policy: dict[str, Any]


class AuditPage(BaseModel):
    """Operator actions, oldest first (the services' entries, as they are)."""

    items: list[audit.AuditEntry]
    limit: int
    offset: int


@router.get("/account")
def show_account(runtime: RuntimeDep) -> AccountPolicy:
    """The account policy in force."""
    with transaction(runtime.sessions) as session:
        return AccountPolicy(**account.show(session).to_dict())


@router.put("/account", dependencies=[Operator])
def apply_account(
    document: Annotated[dict[str, Any], Body(description="an account policy (docs/operator.md)")],
    runtime: RuntimeDep,
    actor: ActorDep,
) -> AccountPolicy:
    """Put a policy in force; 422 lists every problem with its path. Sending the policy already
    in force changes nothing (`changed: false`)."""
    with acting(runtime, actor) as session:
        return AccountPolicy(**account.apply(session, document).to_dict())


@router.get("/audit")
def audit_trail(
    runtime: RuntimeDep,
    campaign_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> AuditPage:
    """Operator actions, oldest first; of one campaign, and from `since`, when given."""
    with transaction(runtime.sessions) as session:
        found = audit.entries(
            session, campaign_id=campaign_id, since=since, limit=limit, offset=offset
        )
    return AuditPage(items=found, limit=limit, offset=offset)
