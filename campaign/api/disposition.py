"""`POST /disposition/{token}`: the bot says what a call came to (`domain.dispositions`).

No API key: like `notifyurl`, the URL is the credential. Its token is signed for this purpose
only (`tokens.Purpose.DISPOSITION`), so a notify token is no disposition token. A forged or
spent token is a 404 before the body is read; an unknown word a 422 that lists the allowed ones;
the same disposition again gets the same answer and changes nothing; a different one for the
same attempt is a 409 (operators change it through the contacts API).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from campaign.api.notify import read_limited
from campaign.api.problems import problem, problem_for
from campaign.api.responses import problem_responses
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.domain import tokens
from campaign.domain.dispositions import ALLOWED, DispositionRequest, parse_disposition
from campaign.errors import CampaignError, InvalidInput, NotFound
from campaign.runtime import Runtime
from campaign.services import audit, dispositions
from campaign.services.dispositions import DispositionAnswer

router = APIRouter()

MAX_BODY_BYTES = 16 * 1024
"""A disposition is a few short fields."""

BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["disposition"],
    "properties": {
        "disposition": {"type": "string", "enum": list(ALLOWED)},
        "label": {"type": "string", "maxLength": 100, "description": "business outcome (done)"},
        "at": {
            "type": "string",
            "description": "callback: local time without offset, e.g. 2026-12-01T17:00",
        },
        "timezone": {"type": "string", "description": "callback: IANA zone of `at`"},
    },
}


def invalid(exc: InvalidInput) -> JSONResponse:
    """A 422 that lists the allowed dispositions, whatever was wrong."""
    return problem(422, "Invalid disposition", str(exc), allowed=list(ALLOWED))


def read_request(document: object) -> DispositionRequest | JSONResponse:
    """The request, or the 422 to answer."""
    try:
        return parse_disposition(document)
    except InvalidInput as exc:
        return invalid(exc)


@router.post(
    "/disposition/{token}",
    response_model=DispositionAnswer,
    responses=problem_responses(404, 409, 413, 422),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": BODY_SCHEMA}}}
    },
    tags=["bot"],
)
async def post_disposition(token: str, request: Request) -> JSONResponse:
    """The bot's disposition for the call whose dial-out carried this URL (`metadata.campaign`
    `.disposition_url`); no API key."""
    runtime: Runtime = request.app.state.runtime
    now = utcnow()
    secrets = runtime.settings.notify_secrets
    try:
        attempt_id = tokens.verify(token, secrets, now, tokens.Purpose.DISPOSITION)
    except NotFound as exc:
        return problem(404, "Not found", str(exc))
    body = await read_limited(request, MAX_BODY_BYTES)
    if body is None:
        return problem(413, "Payload too large", f"limit is {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        return invalid(InvalidInput('the body is not JSON, e.g. {"disposition": "done"}'))
    parsed = read_request(document)
    if isinstance(parsed, JSONResponse):
        return parsed

    def record() -> DispositionAnswer:
        with transaction(runtime.sessions) as session:
            audit.act_as(session, f"bot:attempt {attempt_id}")
            return dispositions.dispose_attempt(session, attempt_id, parsed, now=now)

    try:
        answer = await run_in_threadpool(record)
    except InvalidInput as exc:
        return invalid(exc)
    except CampaignError as exc:
        return problem_for(exc)
    return JSONResponse(answer.to_dict())
