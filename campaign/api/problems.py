"""Errors as `application/problem+json` (RFC 9457): one status and title per CampaignError class."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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


def _http_problem(_request: Request, exc: Exception) -> JSONResponse:
    """Framework errors (401/403 from auth, 404/405 routing, 413 body limits) as problems."""
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    response = problem(exc.status_code, HTTPStatus(exc.status_code).phrase, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


def _validation_problem(_request: Request, exc: Exception) -> JSONResponse:
    """Request validation (FastAPI/pydantic) as 422 with every problem as `location: message`."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    errors = [
        ".".join(str(part) for part in err.get("loc", ())) + f": {err.get('msg', 'invalid')}"
        for err in exc.errors()
    ]
    return problem(422, "Invalid request", "; ".join(errors), errors=errors)


def install(app: FastAPI) -> None:
    """Route every CampaignError raised by a handler through :func:`problem_for`, and render
    framework errors (HTTPException, request validation) as problems too."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CampaignError)  # noqa: S101 - registered for CampaignError only
        return problem_for(exc)

    app.add_exception_handler(CampaignError, handle)
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
