"""The HTTP process: notification receiver, operator API and health, in one FastAPI app.

Metrics are not served here: `campaign api` serves them on METRICS_PORT, which stays inside the
cluster, while this port faces SAVG. In production the interactive docs and the OpenAPI document
are off, since they map every route for whoever finds the port.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.types import Receive, Scope, Send

from campaign import __version__
from campaign.api import (
    account,
    attempts,
    campaigns,
    console,
    contacts,
    disposition,
    events,
    forecast,
    notify,
    overview,
    problems,
)
from campaign.runtime import Runtime
from campaign.settings import Settings, get_settings


class _App(FastAPI):
    """FastAPI, but `POST /notify/{token}` goes straight to the receiver (`notify.answer`),
    ahead of the middleware stack: it is most of the requests, and answers its errors itself."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and notify.token_in(scope["path"]) is not None
        ):
            scope["app"] = self
            await notify.answer(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; `runtime` is injectable so tests can share their own resources."""
    hidden = settings.production
    app = _App(
        title="Outbound campaign engine",
        version=__version__,
        docs_url=None if hidden else "/docs",
        redoc_url=None if hidden else "/redoc",
        openapi_url=None if hidden else "/openapi.json",
    )
    app.state.runtime = runtime or Runtime(settings)
    problems.install(app)
    app.include_router(notify.router)
    app.include_router(disposition.router)
    app.include_router(campaigns.router)
    app.include_router(attempts.router)
    app.include_router(contacts.router)
    app.include_router(overview.router)
    app.include_router(account.router)
    app.include_router(forecast.router)
    app.include_router(events.router)
    console.install(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Alive: the process answers (no dependency checked, so a DB outage never kills pods)."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        """Ready: PostgreSQL and Redis both answer."""
        rt: Runtime = request.app.state.runtime
        checks: dict[str, str] = {}
        try:
            with rt.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure means not ready
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            rt.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    return app


def from_environment() -> FastAPI:
    """The app of one `campaign api` worker process, from the environment (uvicorn's factory:
    with `--workers N` each process builds its own runtime and pools)."""
    return create_app(get_settings())
