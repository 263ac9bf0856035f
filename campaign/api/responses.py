"""The error responses routes declare in OpenAPI: each status once, with what it means here."""

from __future__ import annotations

from typing import Any

from campaign.api.schemas import Problem

_MEANING = {
    401: "missing or unknown API key",
    403: "the key lacks the operator scope",
    404: "unknown campaign",
    409: "not allowed in the campaign's current state",
    413: "request body too large",
    422: "invalid input, every problem listed",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a router or route: problem+json bodies for these statuses."""
    return {code: {"model": Problem, "description": _MEANING[code]} for code in codes}
