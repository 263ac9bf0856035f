"""Dependencies of the operator API: the process runtime, API-key scopes, and body size limits.

Keys come from `API_KEYS` (`key:operator` or `key:read`), sent as `Authorization: Bearer <key>`
or `X-API-Key: <key>`. `operator` may change things and look; `read` may only look. A missing or
unknown key is 401, a key without the scope a route needs is 403. Keys are compared in constant
time so response timing does not leak a prefix.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar, Literal

from fastapi import Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Message

from campaign.runtime import Runtime

Scope = Literal["operator", "read"]
MAX_JSON_BODY = 256 * 1024
"""Specs and DNC requests are a few KiB; anything near this is a mistake or an attack."""
MAX_UPLOAD_BODY = 1024 * 1024 * 1024
"""A million-row contacts CSV is ~50-100 MB; this leaves room for wide metadata columns."""

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_runtime(request: Request) -> Runtime:
    """The process runtime built by `create_app`."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _scope_of(runtime: Runtime, key: str) -> str | None:
    found = None
    for known, scope in runtime.settings.api_key_scopes.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            found = scope
    return found


def key_scope(
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key)],
) -> str:
    """The scope of the request's key; 401 when it sent none or one that is not configured."""
    key = bearer.credentials if bearer is not None else header_key
    scope = _scope_of(runtime, key) if key else None
    if scope is None:
        raise HTTPException(
            401,
            "missing or unknown API key: send Authorization: Bearer <key> or X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return scope


KeyScope = Annotated[str, Depends(key_scope)]


def require_scope(needed: Scope) -> Callable[..., None]:
    """A dependency that lets a request through only with a key holding `needed`."""

    def check(scope: KeyScope) -> None:
        if needed == "operator" and scope != "operator":
            raise HTTPException(403, "this API key may only read; this route needs an operator key")

    return check


Reader = Depends(require_scope("read"))
Operator = Depends(require_scope("operator"))


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class LimitedRoute(APIRoute):
    """A route that refuses bodies over `max_body` bytes: by Content-Length up front, and by
    counting while streaming (chunked bodies), so an oversized body is never read whole."""

    max_body: ClassVar[int] = MAX_JSON_BODY

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = self.max_body

        async def limited(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _BodyTooLarge(limit)
            receive = request.receive
            seen = 0

            async def counting() -> Message:
                nonlocal seen
                message = await receive()
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(limit)
                return message

            return await handler(Request(request.scope, counting))

        return limited


class UploadRoute(LimitedRoute):
    """Routes that take a CSV file."""

    max_body = MAX_UPLOAD_BODY
