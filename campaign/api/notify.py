"""`POST /notify/{token}`: authenticate, store durably, answer, then act (style rule 7).

Nothing changes state here: an unknown or forged token is a 404 before anything is read, an
oversized body a 413, a body that is not a notification a 400/422; an accepted body is committed
to the inbox before the 2xx, so SAVG's retry (or none) can never lose it. The consumer task applies
it; a lost consumer message is re-sent by the sweeper from the unprocessed inbox rows.
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from kombu.exceptions import KombuError
from redis import RedisError

from campaign import log
from campaign.api.problems import problem
from campaign.clock import utcnow
from campaign.db.engine import after_commit, transaction
from campaign.domain import tokens
from campaign.domain.outcomes import STATUS_EVENT, parse_notification
from campaign.domain.signature import signature_valid
from campaign.domain.states import AttemptEvent
from campaign.errors import NotFound, NotificationInvalid
from campaign.runtime import Runtime
from campaign.services.notifications import Stored, answer_in_place, store_notification

router = APIRouter()
logger = logging.getLogger(__name__)

# Headers never worth keeping in the inbox (credentials of clients and proxies in front of us).
_DROP_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (without reading the rest into memory)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _hand_over(runtime: Runtime, attempt_id: int) -> None:
    """Wake a consumer to drain the inbox. The row is already durable, so a broker outage is no
    reason to answer an error: the sweeper applies rows no consumer took."""
    try:
        runtime.wake_consumer(attempt_id)
    except (KombuError, RedisError, OSError) as exc:
        logger.warning("notification stored; no consumer woken (%s)", exc)


@router.post("/notify/{token}", status_code=200, include_in_schema=False)
async def notify(token: str, request: Request) -> JSONResponse:
    """Receive one SAVG status notification for the attempt the token names."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    try:
        attempt_id = tokens.verify(token, settings.notify_secrets, utcnow())
    except NotFound:
        return problem(404, "Not found", "unknown notification token")
    body = await read_limited(request, settings.notify_max_body_bytes)
    if body is None:
        return problem(413, "Payload too large", f"limit is {settings.notify_max_body_bytes} bytes")
    webhook_secret = settings.savg_webhook_secret
    if webhook_secret is not None and not signature_valid(
        request.headers.get("savg-signature"), body, webhook_secret.get_secret_value(), time.time()
    ):
        return problem(401, "Bad signature", "SAVG-Signature missing, stale or wrong")
    try:
        document = json.loads(body)
    except ValueError:
        return problem(400, "Invalid notification", "the body is not JSON")
    try:
        parsed = parse_notification(document)
    except NotificationInvalid as exc:
        return problem(422, "Invalid notification", str(exc))
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}

    def store() -> Stored:
        now = utcnow()
        with log.bound(attempt_id=attempt_id), transaction(runtime.sessions) as session:
            stored = store_notification(
                session,
                attempt_id=attempt_id,
                body=body,
                headers=headers,
                status=parsed.status.value,
                now=now,
            )
            if not stored.created:
                pass  # a duplicate: its first copy is applied, or waiting to be
            elif STATUS_EVENT[parsed.status] is AttemptEvent.ANSWER:
                answer_in_place(session, stored.notification_id, attempt_id, parsed, now)
            else:
                after_commit(session, lambda: _hand_over(runtime, attempt_id))
        return stored

    try:
        stored = await run_in_threadpool(store)
    except NotFound:
        return problem(404, "Not found", "unknown notification token")
    return JSONResponse({"id": stored.notification_id, "duplicate": not stored.created})
