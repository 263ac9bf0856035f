"""The console's routes over real HTTP: the page and its headers, the key's scope, reading a
pasted spec, and the read routes' input checks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.operator.conftest import OPERATOR, spec_doc

READER = {"Authorization": "Bearer read-key"}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers=OPERATOR, timeout=30) as client:
        yield client


def test_the_page_is_served_at_the_root_with_headers_that_keep_the_key_safe(
    api: httpx.Client,
) -> None:
    page = api.get("/", headers={"Authorization": ""})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/console/js/main.js">' in page.text
    script = api.get("/console/js/main.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff"


def test_every_asset_the_page_loads_is_served_from_this_origin(api: httpx.Client) -> None:
    for path in ("/console/console.css", "/console/js/api.js", "/console/js/settings.js"):
        assert api.get(path).status_code == 200, path
    assert api.get("/console/../campaign/settings.py").status_code == 404


@pytest.mark.parametrize(
    ("headers", "scope"),
    [
        (OPERATOR, "operator"),
        (READER, "read"),
        ({"Authorization": "", "X-API-Key": "read-key"}, "read"),
    ],
)
def test_me_names_the_scope_of_the_key(
    api: httpx.Client, headers: dict[str, str], scope: str
) -> None:
    response = api.get("/api/v1/me", headers=headers)
    assert response.json() == {"scope": scope}


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer nope"}, {"Authorization": ""}])
def test_me_refuses_a_wrong_or_missing_key(api: httpx.Client, headers: dict[str, str]) -> None:
    response = api.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert "unknown API key" in response.json()["detail"]


def test_a_read_key_cannot_act(api: httpx.Client) -> None:
    cid = api.post("/api/v1/campaigns", json=spec_doc()).json()["id"]
    response = api.post(f"/api/v1/campaigns/{cid}/start", headers=READER)
    assert response.status_code == 403
    assert api.get(f"/api/v1/campaigns/{cid}").json()["state"] == "draft"


def test_a_yaml_spec_reads_into_the_document_the_json_routes_take(api: httpx.Client) -> None:
    text = (
        "name: x\nwindow:\n  blackout: [2026-12-25]\n  hours: {mon: 09:00-17:00}\n"
        "pacing: {cps: 5}\n"
    )
    response = api.post("/api/v1/policy/parse", content=text, headers=YAML)
    assert response.status_code == 200, response.text
    assert response.json()["document"] == {
        "name": "x",
        "window": {"blackout": ["2026-12-25"], "hours": {"mon": "09:00-17:00"}},
        "pacing": {"cps": 5},
    }


def test_a_yaml_syntax_error_names_its_line_and_column(api: httpx.Client) -> None:
    response = api.post("/api/v1/policy/parse", content="name: x\npacing: {cps: 5\n", headers=YAML)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("spec: line 3, column 1: ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("pacing: {cps: .nan}", "pacing.cps: nan is not a finite number"),
        ("a: &x [*x]", "a[0]: refers to itself"),
        ("x: !!binary aGVsbG8=", "x: a bytes value cannot be used here"),
        (
            "a: &a [1,2,3,4,5,6,7,8,9,10]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
                for i in range(5)
            ),
            "too many values",
        ),
    ],
)
def test_values_json_cannot_carry_are_named_by_path(
    api: httpx.Client, text: str, problem: str
) -> None:
    response = api.post("/api/v1/policy/parse", content=text, headers=YAML)
    assert response.status_code == 422
    assert any(problem in error for error in response.json()["errors"]), response.text


def test_reading_a_spec_that_is_not_utf8_is_a_clear_problem(api: httpx.Client) -> None:
    response = api.post("/api/v1/policy/parse", content=b"name: \xff\xfe", headers=YAML)
    assert response.status_code == 422
    assert response.json()["detail"] == "spec: not UTF-8 text"


def test_attempts_refuse_an_unknown_outcome_and_an_unknown_campaign(api: httpx.Client) -> None:
    cid = api.post("/api/v1/campaigns", json=spec_doc()).json()["id"]
    bad = api.get(f"/api/v1/campaigns/{cid}/attempts", params={"outcome": "happy"})
    assert bad.status_code == 422
    assert "outcome: 'happy' is not one of busy" in bad.json()["detail"]
    page = api.get(f"/api/v1/campaigns/{cid}/attempts", headers=READER).json()
    assert (page["total"], page["items"]) == (0, [])
    assert api.get("/api/v1/campaigns/999999999/attempts").status_code == 404
    assert api.get(f"/api/v1/campaigns/{cid}/attempts/1").status_code == 404


def test_pace_refuses_a_step_longer_than_its_window(api: httpx.Client) -> None:
    cid = api.post("/api/v1/campaigns", json=spec_doc()).json()["id"]
    response = api.get(f"/api/v1/campaigns/{cid}/pace", params={"window": 60, "step": 120})
    assert response.status_code == 422
    ok = api.get(f"/api/v1/campaigns/{cid}/pace", params={"window": 60, "step": 10}).json()
    assert len(ok["points"]) == 6
    assert (ok["cps_limit"], ok["max_live_calls"]) == (5.0, 10)


def test_the_overview_lists_a_new_campaign_with_its_limits(api: httpx.Client) -> None:
    cid = api.post("/api/v1/campaigns", json=spec_doc()).json()["id"]
    items = api.get("/api/v1/overview", headers=READER).json()["items"]
    mine = next(item for item in items if item["id"] == cid)
    assert (mine["state"], mine["total_contacts"], mine["cps_limit"]) == ("draft", 0, 5.0)


def test_the_new_read_routes_are_in_the_openapi_document(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/me",
        "/api/v1/overview",
        "/api/v1/policy/parse",
        "/api/v1/campaigns/{campaign_id}/attempts",
        "/api/v1/campaigns/{campaign_id}/attempts/{attempt_id}",
        "/api/v1/campaigns/{campaign_id}/pace",
        "/api/v1/campaigns/{campaign_id}/waiting",
    ):
        assert path in paths, path
    assert "/" not in paths


def test_escaped_surrogate_pairs_are_joined_and_lone_ones_named(api: httpx.Client) -> None:
    joined = api.post("/api/v1/policy/parse", content='{"name": "\\ud83d\\ude00"}', headers=YAML)
    assert joined.json()["document"] == {"name": "\N{GRINNING FACE}"}
    lone = api.post("/api/v1/policy/parse", content='{"n\\ud906": "\\ud906x"}', headers=YAML)
    assert lone.status_code == 422
    assert lone.json()["errors"] == [
        "spec: text with a lone surrogate is not valid Unicode",
        "n\\ud906: text with a lone surrogate is not valid Unicode",
    ]
