"""Errors as `application/problem+json` (RFC 9457): one status and title per CampaignError class."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from campaign.errors import (
    CampaignError,
    Conflict,
    IllegalTransition,
    InvalidInput,
    NotFound,
    SpecInvalid,
)

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[CampaignError], int, str], ...] = (
    (SpecInvalid, 422, "Invalid campaign spec"),
    (InvalidInput, 422, "Invalid input"),
    (NotFound, 404, "Not found"),
    (Conflict, 409, "Conflict"),
    (IllegalTransition, 409, "Not allowed in the current state"),
    (CampaignError, 400, "Bad request"),
)


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def problem_for(exc: CampaignError) -> JSONResponse:
    """The problem response for an engine error; SpecInvalid lists every error with its path."""
    for cls, status, title in _STATUS:
        if isinstance(exc, cls):
            extra: dict[str, object] = {}
            if isinstance(exc, SpecInvalid):
                extra["errors"] = exc.errors
            return problem(status, title, str(exc), **extra)
    raise AssertionError("unreachable: CampaignError is in the table")  # pragma: no cover


def install(app: FastAPI) -> None:
    """Route every CampaignError raised by a handler through :func:`problem_for`."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CampaignError)  # noqa: S101 - registered for CampaignError only
        return problem_for(exc)

    app.add_exception_handler(CampaignError, handle)
