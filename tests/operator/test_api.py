"""The operator API over real HTTP (uvicorn on 127.0.0.1) against real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.operator.conftest import OPERATOR, spec_doc

READER = {"X-API-Key": "read-key"}
PROBLEM = "application/problem+json"


@pytest.fixture
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers=OPERATOR, timeout=30) as client:
        yield client


def _create(api: httpx.Client, **overrides: Any) -> int:
    response = api.post("/api/v1/campaigns", json=spec_doc(**overrides))
    assert response.status_code == 201, response.text
    cid: int = response.json()["id"]
    return cid


def _upload(api: httpx.Client, cid: int, text: str, **params: str) -> httpx.Response:
    files = {"file": ("contacts.csv", text.encode(), "text/csv")}
    return api.post(f"/api/v1/campaigns/{cid}/contacts", files=files, params=params)


def test_create_returns_id_and_spec_with_defaults(api: httpx.Client) -> None:
    response = api.post("/api/v1/campaigns", json=spec_doc())
    assert response.status_code == 201
    body = response.json()
    assert body["spec"]["gateway"]["timeoutInMs"] == 60000
    got = api.get(f"/api/v1/campaigns/{body['id']}").json()
    assert (got["state"], got["spec"]) == ("draft", body["spec"])


def test_invalid_spec_is_a_problem_listing_every_path(api: httpx.Client) -> None:
    doc = spec_doc(pacing={"cps": "fast"}, retry={"outcomes": {"busy": {"delays": ["5x"]}}})
    response = api.post("/api/v1/campaigns", json=doc)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert any(e.startswith("pacing.cps") for e in errors)
    assert any(e.startswith("retry.outcomes.busy.delays[0]") for e in errors)


def test_upload_reports_every_bad_row_and_stores_every_good_one(api: httpx.Client) -> None:
    cid = _create(api)
    rows = [f"+1201555{i:04d}" if i % 10 else f"nope{i}" for i in range(100)]
    response = _upload(api, cid, "phone\n" + "\n".join(rows) + "\n")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["accepted"] == 90
    assert [r["line"] for r in report["rejected"]] == [i + 2 for i in range(0, 100, 10)]
    contacts = api.get(f"/api/v1/campaigns/{cid}/contacts", params={"limit": 500}).json()
    assert contacts["total"] == 90
    assert contacts["next_offset"] is None


def test_upload_without_phone_column_is_refused_whole(api: httpx.Client) -> None:
    cid = _create(api)
    response = _upload(api, cid, "name\nAnn\n")
    assert response.status_code == 422
    assert "no phone column" in response.json()["detail"]
    assert api.get(f"/api/v1/campaigns/{cid}/contacts").json()["total"] == 0


def test_lifecycle_verbs_are_idempotent_and_illegal_ones_conflict(api: httpx.Client) -> None:
    cid = _create(api)
    assert _upload(api, cid, "phone\n+12015550123\n").json()["accepted"] == 1
    base = f"/api/v1/campaigns/{cid}"
    resumed = api.post(f"{base}/resume")
    assert resumed.status_code == 409
    assert resumed.headers["content-type"] == PROBLEM
    assert api.post(f"{base}/start").json()["state"] == "running"
    assert api.post(f"{base}/start").json()["changed"] is False
    assert api.post(f"{base}/pause").json()["state"] == "paused"
    assert api.get(f"{base}/status").json()["waiting"] == {"campaign paused": 1}
    assert api.post(f"{base}/resume").json()["state"] == "running"
    assert api.post(f"{base}/cancel").json()["state"] == "cancelled"
    status = api.get(f"{base}/status").json()
    assert status["contacts"] == {"cancelled": 1}
    assert [r["state"] for r in status["runs"]] == ["cancelled"]


def test_patch_replaces_retry_policy(api: httpx.Client) -> None:
    cid = _create(api)
    response = api.patch(f"/api/v1/campaigns/{cid}", json={"retry": {"max_attempts": 9}})
    assert response.json()["spec"]["retry"]["max_attempts"] == 9
    bad = api.patch(f"/api/v1/campaigns/{cid}", json={"gateway": {"bot": "x", "caller": "+1"}})
    assert bad.status_code == 422


def test_export_streams_csv(api: httpx.Client) -> None:
    cid = _create(api)
    with api.stream("GET", f"/api/v1/campaigns/{cid}/export") as response:
        assert response.headers["content-type"].startswith("text/csv")
        text = response.read().decode()
    assert text.startswith("contact_id,external_id,number,zone,local_time,run,attempt,outcome")


def test_unknown_campaign_is_404_problem(api: httpx.Client) -> None:
    response = api.get("/api/v1/campaigns/987654321/status")
    assert response.status_code == 404
    assert response.json()["detail"] == "campaign 987654321 does not exist"


def test_dnc_routes(api: httpx.Client) -> None:
    added = api.post("/api/v1/dnc", json={"numbers": ["2025550161"], "region": "US"})
    assert added.json() == {"added": ["+12025550161"]}
    listed = api.get("/api/v1/dnc", params={"limit": 500}).json()["items"]
    assert "+12025550161" in {e["phone"] for e in listed}
    files = {"file": ("dnc.csv", b"phone,expires_at\n+12025550162,7d\nbad,\n", "text/csv")}
    imported = api.post("/api/v1/dnc/import", files=files).json()
    assert (imported["added"], imported["rejected"][0]["line"]) == (1, 3)
    assert api.delete("/api/v1/dnc/+12025550161").json() == {"removed": 1}
    api.delete("/api/v1/dnc/+12025550162")
    assert api.post("/api/v1/dnc", json={"numbers": ["12"]}).status_code == 422


def test_lists_are_paginated(api: httpx.Client) -> None:
    for _ in range(3):
        _create(api)
    first = api.get("/api/v1/campaigns", params={"limit": 2}).json()
    second = api.get("/api/v1/campaigns", params={"limit": 2, "offset": 2}).json()
    assert len(first["items"]) == 2
    assert first["next_offset"] == 2
    assert first["items"][1]["id"] > second["items"][0]["id"]


def test_policy_check_validates_without_storing(api: httpx.Client) -> None:
    ok = api.post("/api/v1/policy/check", json=spec_doc())
    assert ok.json()["valid"] is True
    assert api.post("/api/v1/policy/check", json={"name": "x"}).status_code == 422


def test_bodies_over_the_limit_are_refused(api: httpx.Client) -> None:
    big = {**spec_doc(), "gateway": {"bot": "b" * 300_000, "caller": "+12706165788"}}
    assert api.post("/api/v1/campaigns", json=big).status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    headers = {"Content-Type": "application/json"}
    chunked = api.post("/api/v1/campaigns", content=chunks(), headers=headers)
    assert chunked.status_code == 413
    assert chunked.headers["content-type"] == PROBLEM


def test_openapi_is_served_with_operator_routes_and_key_schemes(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    assert "/api/v1/campaigns/{campaign_id}/contacts" in schema["paths"]
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}


OPERATOR_ROUTES = {
    ("POST", "/api/v1/campaigns"),
    ("PATCH", "/api/v1/campaigns/{campaign_id}"),
    ("POST", "/api/v1/campaigns/{campaign_id}/start"),
    ("POST", "/api/v1/campaigns/{campaign_id}/pause"),
    ("POST", "/api/v1/campaigns/{campaign_id}/resume"),
    ("POST", "/api/v1/campaigns/{campaign_id}/cancel"),
    ("POST", "/api/v1/campaigns/{campaign_id}/rerun"),
    ("POST", "/api/v1/campaigns/{campaign_id}/events/replay"),
    ("POST", "/api/v1/campaigns/{campaign_id}/contacts"),
    ("PATCH", "/api/v1/campaigns/{campaign_id}/contacts/{ref}"),
    ("POST", "/api/v1/campaigns/{campaign_id}/contacts/{ref}/disposition"),
    ("POST", "/api/v1/dnc"),
    ("DELETE", "/api/v1/dnc/{phone}"),
    ("POST", "/api/v1/dnc/import"),
    ("PUT", "/api/v1/account"),
}
READ_ROUTES = {
    ("GET", "/api/v1/campaigns"),
    ("GET", "/api/v1/campaigns/{campaign_id}"),
    ("GET", "/api/v1/campaigns/{campaign_id}/contacts"),
    ("GET", "/api/v1/campaigns/{campaign_id}/contacts/{ref}"),
    ("GET", "/api/v1/campaigns/{campaign_id}/status"),
    ("GET", "/api/v1/campaigns/{campaign_id}/export"),
    ("GET", "/api/v1/campaigns/{campaign_id}/forecast"),
    ("GET", "/api/v1/campaigns/{campaign_id}/events"),
    ("GET", "/api/v1/dnc"),
    ("POST", "/api/v1/policy/check"),
    ("POST", "/api/v1/policy/parse"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/campaigns/{campaign_id}/attempts"),
    ("GET", "/api/v1/campaigns/{campaign_id}/attempts/{attempt_id}"),
    ("GET", "/api/v1/campaigns/{campaign_id}/pace"),
    ("GET", "/api/v1/campaigns/{campaign_id}/waiting"),
    ("GET", "/api/v1/account"),
    ("GET", "/api/v1/audit"),
}


def test_every_route_needs_a_key_and_changes_need_the_operator_scope(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    served = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    assert served == OPERATOR_ROUTES | READ_ROUTES
    with httpx.Client(base_url=str(api.base_url)) as client:
        for method, template in sorted(served):
            path = (
                template.replace("{campaign_id}", "1")
                .replace("{attempt_id}", "1")
                .replace("{phone}", "+12015550100")
                .replace("{ref}", "+12015550100")
            )
            missing = client.request(method, path)
            wrong = client.request(method, path, headers={"Authorization": "Bearer nope"})
            reader = client.request(method, path, headers=READER)
            assert (missing.status_code, wrong.status_code) == (401, 401), (method, path)
            assert missing.headers["content-type"] == PROBLEM
            assert missing.headers["www-authenticate"] == "Bearer"
            if (method, template) in OPERATOR_ROUTES:
                assert reader.status_code == 403, (method, path)
            else:
                assert reader.status_code not in (401, 403), (method, path)
