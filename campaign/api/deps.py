"""Dependencies of the operator API: the process runtime, API-key scopes, and body size limits.

Keys come from `API_KEYS` (`key:operator` or `key:read`, optionally named: `name=key:scope`), sent
as `Authorization: Bearer <key>` or `X-API-Key: <key>`. The audit trail records who acted by the
key's name, or by a short fingerprint of an unnamed key, never by the key itself. `operator` may
change things and look; `read` may only look. A missing or unknown key is 401, a key without the
scope a route needs is 403. Keys are compared in constant time so response timing does not leak
a prefix.

The check runs twice on purpose. `ApiRoute` runs it before the handler reads anything: FastAPI
parses a body (a multipart upload is spooled to disk) before it runs dependencies, so a check that
lived only in a dependency would let anyone make the server read a whole upload. The dependency
stays for the OpenAPI security schemes and as a second lock on every route.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request, Response, params
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.types import Message

from campaign.db.engine import transaction
from campaign.runtime import Runtime
from campaign.services import audit
from campaign.settings import Settings

Scope = Literal["operator", "read"]
MAX_JSON_BODY = 256 * 1024
"""Specs and DNC requests are a few KiB; anything near this is a mistake or an attack."""

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_runtime(request: Request) -> Runtime:
    """The process runtime built by `create_app`."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _scope_of(settings: Settings, key: str) -> str | None:
    found = None
    for known, scope in settings.api_key_scopes.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            found = scope
    return found


def _presented_key(headers: Mapping[str, str]) -> str | None:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key") or None


def authorize(settings: Settings, key: str | None, needed: Scope) -> str:
    """The key's scope; raise 401 unless `key` is known, 403 unless it holds `needed`."""
    scope = _scope_of(settings, key) if key else None
    if scope is None:
        raise HTTPException(
            401,
            "missing or unknown API key: send Authorization: Bearer <key> or X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if needed == "operator" and scope != "operator":
        raise HTTPException(403, "this API key may only read; this route needs an operator key")
    return scope


def key_scope(
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key)],
) -> str:
    """The scope of the request's key (401 when it sent none or one that is not configured)."""
    key = bearer.credentials if bearer is not None else header_key
    return authorize(runtime.settings, key, "read")


KeyScope = Annotated[str, Depends(key_scope)]


def actor_name(settings: Settings, key: str) -> str:
    """Who a key is in the audit trail: its name, else `key:` and 8 hex digits of its SHA-256
    (enough to tell keys apart, useless for guessing one)."""
    name = settings.api_key_names.get(key)
    return name if name is not None else f"key:{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def request_actor(request: Request) -> str:
    """Who acts in this request (the route has already checked the key)."""
    key = _presented_key(request.headers) or ""
    return actor_name(get_runtime(request).settings, key)


ActorDep = Annotated[str, Depends(request_actor)]


@contextmanager
def acting(runtime: Runtime, actor: str) -> Iterator[Session]:
    """One transaction whose changes the audit trail records as `actor`'s."""
    with transaction(runtime.sessions) as session:
        yield audit.act_as(session, actor)


# The scope each dependency made by `require_scope` checks, for `ApiRoute` to read.
_SCOPES: dict[Callable[..., None], Scope] = {}


def require_scope(needed: Scope) -> Callable[..., None]:
    """The dependency form of :func:`authorize`. A plain function, not a callable object: older
    FastAPI cannot resolve a callable object's postponed annotations."""

    def check(
        runtime: RuntimeDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        header_key: Annotated[str | None, Depends(_api_key)],
    ) -> None:
        key = bearer.credentials if bearer is not None else header_key
        authorize(runtime.settings, key, needed)

    _SCOPES[check] = needed
    return check


Reader = Depends(require_scope("read"))
Operator = Depends(require_scope("operator"))


def needed_scope(dependencies: Sequence[params.Depends]) -> Scope:
    """`operator` when a route's own dependencies ask for it, else `read`: every operator API
    route needs a key. Read from the route itself, since FastAPI versions differ in whether a
    route also sees its router's dependencies."""
    scopes = {_SCOPES.get(d.dependency) for d in dependencies if d.dependency is not None}
    return "operator" if "operator" in scopes else "read"


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class ApiRoute(APIRoute):
    """An operator route: the API key (at least `read`; `operator` where the route depends on
    `Operator`) is checked, then the body limit, before a byte of the body is read. Bodies over
    the limit are refused by Content-Length at once (413), and counted while streaming (chunked
    bodies), so an oversized body is never read whole."""

    def body_limit(self, settings: Settings) -> int:
        """Largest body this route takes."""
        return MAX_JSON_BODY

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        needed = needed_scope(self.dependencies)

        async def guarded(request: Request) -> Response:
            settings = get_runtime(request).settings
            authorize(settings, _presented_key(request.headers), needed)
            limit = self.body_limit(settings)
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

        return guarded


class UploadRoute(ApiRoute):
    """Routes that take a CSV file: up to `UPLOAD_MAX_BYTES`."""

    def body_limit(self, settings: Settings) -> int:
        return settings.upload_max_bytes
