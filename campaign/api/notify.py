"""`POST /notify/{token}`: authenticate, store durably, answer, then act (style rule 7).

Nothing changes state here: an unknown or forged token is a 404 before anything is read, an
oversized body a 413, a body that is not a notification a 400/422; an accepted body is committed
to the inbox before the 2xx, so SAVG's retry (or none) can never lose it. A worker's drain thread
applies it (`workers.drainers`); a lost wake-up leaves the row to the sweeper, which applies
unprocessed inbox rows itself.
"""

from __future__ import annotations

import json
import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from campaign import log
from campaign.api.problems import problem
from campaign.clock import utcnow
from campaign.domain import tokens
from campaign.domain.outcomes import parse_notification
from campaign.domain.signature import signature_valid
from campaign.errors import NotFound, NotificationInvalid
from campaign.runtime import Runtime
from campaign.services import intake

router = APIRouter()

# Headers never worth keeping in the inbox (credentials of clients and proxies in front of us).
_DROP_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
_JSON_BOOL = {True: b"true", False: b"false"}
_PREFIX = "/notify/"


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


def token_in(path: str) -> str | None:
    """The token of a receiver path, as the route's `{token}` matches it (one path segment)."""
    if not path.startswith(_PREFIX):
        return None
    token = path[len(_PREFIX) :]
    return token if token and "/" not in token else None


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    """The receiver as a bare ASGI app: `app.create_app` calls it for every `POST /notify/...`
    ahead of the middleware stack (six layers, each wrapping every receive and send). The handler
    answers every error itself, and uvicorn turns an unexpected exception into a 500 as
    ServerErrorMiddleware did."""
    response = await receive_notification(Request(scope, receive), token_in(scope["path"]) or "")
    await response(scope, receive, send)


async def notify(request: Request) -> Response:
    """The route's endpoint. The route answers other methods 405; a POST reaches this only in an
    app that does not send it to `answer` first (`create_app` does)."""
    return await receive_notification(request, request.path_params["token"])


async def receive_notification(request: Request, token: str) -> Response:
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
    with log.bound(attempt_id=attempt_id):
        try:
            received = await intake.receive(
                runtime.intake,
                attempt_id=attempt_id,
                body=body,
                headers=headers,
                notification=parsed,
                now=utcnow(),
            )
        except NotFound:
            return problem(404, "Not found", "unknown notification token")
        if received.for_consumer:
            # Durable already; the wake is sent from the runtime's waker thread, so a broker
            # outage never fails this request (the sweeper applies rows no consumer took).
            runtime.wake_consumer(attempt_id)
    return Response(
        b'{"id":%d,"duplicate":%s}' % (received.notification_id, _JSON_BOOL[not received.created]),
        media_type="application/json",
    )


router.add_route("/notify/{token}", notify, methods=["POST"], include_in_schema=False)
