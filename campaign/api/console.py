"""The operator console: one static page and its assets, served by the API process itself.

The page (`campaign/console/static/`) is plain HTML, CSS and JavaScript modules, shipped in the
wheel, with no build step and nothing fetched from elsewhere; it talks to `/api/v1` like any
client, with the key the operator typed in. The headers keep that key safe from other origins:
a Content-Security-Policy that allows only this origin's own scripts and no inline ones, no
framing, and no Referer. Assets revalidate (`no-cache` + ETag) so an upgrade shows at once.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent.parent / "console" / "static"
ASSETS_PATH = "/console"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    """Static files with the console's headers on every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the page at `/` and its assets under `/console/`."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)

    app.mount(ASSETS_PATH, _Assets(directory=STATIC), name="console")
