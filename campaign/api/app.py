"""The HTTP process: notification receiver, operator API, health and metrics, in one FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from campaign import __version__
from campaign.api import campaigns, forecast, notify, problems
from campaign.runtime import Runtime
from campaign.settings import Settings


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; `runtime` is injectable so tests can share their own resources."""
    app = FastAPI(title="Outbound campaign engine", version=__version__)
    app.state.runtime = runtime or Runtime(settings)
    problems.install(app)
    app.include_router(notify.router)
    app.include_router(campaigns.router)
    app.include_router(forecast.router)

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

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
