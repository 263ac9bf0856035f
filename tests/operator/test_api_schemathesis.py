"""Property-based fuzzing of the operator routes from the served OpenAPI (schemathesis).

Every operation under /api/v1 gets generated requests (valid and invalid bodies, odd query
values) with an operator key, over real HTTP; none may answer 5xx. Path ids point at a fresh
campaign with contacts (random ids would only ever meet 404). Bounded: a couple of dozen
examples per operation keeps the test well under a minute. schemathesis' pytest plugin does not
run on pytest 9, so each operation's strategy is driven with hypothesis directly.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.operator.conftest import OPERATOR, spec_doc

# A dev dependency (schemathesis>=4.32,<5); skipped, not failed, where it is not installed yet.
schemathesis = pytest.importorskip("schemathesis")
not_a_server_error = pytest.importorskip("schemathesis.checks").not_a_server_error


def _campaign_with_contacts(client: httpx.Client) -> int:
    cid: int = client.post("/api/v1/campaigns", json=spec_doc()).json()["id"]
    files = {"file": ("c.csv", b"phone,name\n+12015550123,a\n+12015550124,b\n", "text/csv")}
    client.post(f"/api/v1/campaigns/{cid}/contacts", files=files)
    client.post(f"/api/v1/campaigns/{cid}/start")
    return cid


def _fuzzer(operation: Any, cid: int) -> Any:
    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        if "campaign_id" in (case.path_parameters or {}):
            case.path_parameters["campaign_id"] = cid
        case.call_and_validate(headers=OPERATOR, checks=[not_a_server_error])

    return fuzz


def test_operator_routes_never_answer_a_server_error(server: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [
        result.ok() for result in schema.include(path_regex="^/api/v1/").get_all_operations()
    ]
    assert len(operations) == 34
    with httpx.Client(base_url=server, headers=OPERATOR) as client:
        try:
            for operation in operations:
                _fuzzer(operation, _campaign_with_contacts(client))()
        finally:
            client.put("/api/v1/account", json={})  # other tests share the database: no rules
