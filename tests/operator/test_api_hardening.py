"""The API reads nothing before it authenticates, caps bodies, and shows little to strangers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from campaign.api import campaigns
from campaign.api.app import create_app
from campaign.api.deps import ApiRoute
from campaign.runtime import Runtime
from campaign.settings import DEFAULT_UPLOAD_MAX_BYTES, Settings, load_settings
from tests.operator.conftest import OPERATOR, spec_doc
from tests.unit.test_settings_production import PRODUCTION

FIVE_MB = 5 * 1024 * 1024
MULTIPART = "multipart/form-data; boundary=xyz"


class Exchange:
    """One request driven straight through the ASGI app, noting whether its body was read."""

    def __init__(self, app: Any, method: str, path: str, headers: dict[str, str]) -> None:
        self.body_read = False
        self.status = 0
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
        }
        asyncio.run(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        self.body_read = True
        return {"type": "http.request", "body": b"--xyz\r\n" + b"x" * 65536, "more_body": True}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


@pytest.fixture(scope="module")
def small_cap(settings: Settings) -> Iterator[Any]:
    """The app with a 64 KiB upload cap."""
    capped = settings.model_copy(update={"upload_max_bytes": 64 * 1024})
    runtime = Runtime(capped, pool_size=2)
    yield create_app(capped, runtime)
    runtime.close()


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute under `routes`, through included routers (newer FastAPI keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _api_routes(nested.routes)
        elif isinstance(route, APIRoute):
            yield route


def _body_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for template, operations in app.openapi()["paths"].items():
        if not template.startswith("/api/v1/"):
            continue  # the bot's disposition URL: its token is the key (next test)
        for method in set(operations) & {"post", "patch", "put", "delete"}:
            path = template.replace("{campaign_id}", "1").replace("{phone}", "+12015550100")
            found.append((method.upper(), path))
    assert len(found) >= 10
    return sorted(found)


def test_an_unauthenticated_upload_is_refused_before_a_byte_is_read(small_cap: Any) -> None:
    headers = {"content-type": MULTIPART, "content-length": str(FIVE_MB)}
    for method, path in _body_routes(small_cap):
        for auth in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "nope"}):
            sent = Exchange(small_cap, method, path, {**headers, **auth})
            assert sent.status == 401, (method, path)
            assert not sent.body_read, (method, path, "read the body before authenticating")


def test_a_forged_disposition_token_is_refused_before_a_byte_is_read(small_cap: Any) -> None:
    headers = {"content-type": "application/json", "content-length": str(FIVE_MB)}
    sent = Exchange(
        small_cap, "POST", "/disposition/1.1796212800.AAAAAAAAAAAAAAAAAAAAAAAA", headers
    )
    assert (sent.status, sent.body_read) == (404, False)


def test_a_read_key_cannot_make_an_operator_route_read_its_body(small_cap: Any) -> None:
    headers = {"content-type": MULTIPART, "content-length": "1000", "X-API-Key": "read-key"}
    sent = Exchange(small_cap, "POST", "/api/v1/campaigns/1/contacts", headers)
    assert (sent.status, sent.body_read) == (403, False)


def test_an_oversized_declared_upload_is_refused_at_once(small_cap: Any) -> None:
    headers = {"content-type": MULTIPART, "content-length": str(64 * 1024 + 1), **OPERATOR}
    for path in ("/api/v1/campaigns/1/contacts", "/api/v1/dnc/import"):
        sent = Exchange(small_cap, "POST", path, headers)
        assert (sent.status, sent.body_read) == (413, False), path


def test_every_operator_api_route_runs_the_guard_that_authenticates_first() -> None:
    routes = list(_api_routes(campaigns.router.routes))
    assert len(routes) >= 17
    for route in routes:
        assert isinstance(route, ApiRoute), route.path


def test_the_upload_cap_defaults_below_a_gibibyte_and_is_a_setting() -> None:
    assert DEFAULT_UPLOAD_MAX_BYTES <= 256 * 1024 * 1024
    assert load_settings(upload_max_bytes=5000).upload_max_bytes == 5000


def test_metrics_are_not_served_on_the_api_port(small_cap: Any) -> None:
    sent = Exchange(small_cap, "GET", "/metrics", {})
    assert sent.status == 404


@pytest.fixture
def production_app(settings: Settings) -> Iterator[Any]:
    values = {k.lower(): v for k, v in PRODUCTION.items()}
    values.update(database_url=settings.database_url, redis_url=settings.redis_url)
    prod = load_settings(**values)
    runtime = Runtime(prod, pool_size=1)
    yield create_app(prod, runtime)
    runtime.close()


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_docs_and_the_openapi_document_are_off_in_production(
    production_app: Any, path: str
) -> None:
    assert Exchange(production_app, "GET", path, {}).status == 404


def test_docs_are_served_in_development(small_cap: Any) -> None:
    assert Exchange(small_cap, "GET", "/openapi.json", {}).status == 200


def test_policy_check_answers_a_quarter_million_digit_duration_briefly(server: str) -> None:
    doc = spec_doc(pacing={"cps": 1, "max_call_duration": "1" + "0" * 250_000 + "s"})
    response = httpx.post(f"{server}/api/v1/policy/check", json=doc, headers=OPERATOR, timeout=30)
    assert response.status_code == 422
    assert len(response.text) < 1000
    assert "pacing.max_call_duration" in response.json()["errors"][0]
