"""Contacts for operators and CRMs, over the API and the CLI on real PostgreSQL: the paged list and
its filters, one contact by external id or number, an operator's disposition, a priority."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from campaign.cli import contacts as contacts_cli
from campaign.cli import operator
from campaign.settings import get_settings
from tests.operator.conftest import run_json
from tests.operator.test_api import PROBLEM, _create, _upload, api
from tests.operator.test_cli import spec_file

__all__ = ["api", "spec_file"]  # fixtures shared with the CLI and API tests

ALLOWED = ["done", "callback", "do_not_call", "wrong_number", "retry"]


def _campaign(api: httpx.Client) -> int:
    cid = _create(api)
    text = "phone,external_id\n+12015550131,crm-1\n+12015550132,crm-2\n+12015550133,\n"
    assert _upload(api, cid, text).json()["accepted"] == 3
    return cid


def _contacts(api: httpx.Client, cid: int, **params: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/campaigns/{cid}/contacts", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_a_contact_is_found_by_external_id_or_number_with_its_attempts(api: httpx.Client) -> None:
    cid = _campaign(api)
    by_id = api.get(f"/api/v1/campaigns/{cid}/contacts/crm-2").json()
    by_number = api.get(f"/api/v1/campaigns/{cid}/contacts/+12015550132").json()
    assert by_id == by_number
    assert (by_id["external_id"], by_id["state"], by_id["attempt_list"]) == ("crm-2", "pending", [])
    missing = api.get(f"/api/v1/campaigns/{cid}/contacts/nobody")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert "nobody" in missing.json()["detail"]


def test_an_operator_disposition_is_applied_recorded_and_filterable(api: httpx.Client) -> None:
    cid = _campaign(api)
    path = f"/api/v1/campaigns/{cid}/contacts/crm-1/disposition"
    first = api.post(path, json={"disposition": "done", "label": "paid by phone"})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["contact_state"], answer["applied"], answer["attempt_id"]) == (
        "done",
        True,
        None,
    )
    again = api.post(path, json={"disposition": "done", "label": "paid by phone"}).json()
    assert again["contact_state"] == "done"

    assert [c["external_id"] for c in _contacts(api, cid, disposition="done")["items"]] == ["crm-1"]
    assert _contacts(api, cid, state="pending")["total"] == 2
    assert _contacts(api, cid, outcome="busy")["total"] == 0
    trail = api.get("/api/v1/audit", params={"campaign_id": cid}).json()["items"]
    dispositions = [e for e in trail if e["action"] == "contact.disposition"]
    assert dispositions[-1]["after"] == {"state": "done", "disposition": "done"}


def test_bad_words_are_422_problems_naming_what_is_allowed(api: httpx.Client) -> None:
    cid = _campaign(api)
    refused = api.post(
        f"/api/v1/campaigns/{cid}/contacts/crm-1/disposition", json={"disposition": "maybe"}
    )
    assert refused.status_code == 422
    assert refused.json()["allowed"] == ALLOWED
    bad_filter = api.get(f"/api/v1/campaigns/{cid}/contacts", params={"disposition": "maybe"})
    assert bad_filter.status_code == 422
    assert "done, callback" in bad_filter.json()["detail"]


def test_priority_changes_are_stored_and_audited(api: httpx.Client) -> None:
    cid = _campaign(api)
    changed = api.patch(f"/api/v1/campaigns/{cid}/contacts/+12015550133", json={"priority": 7})
    assert changed.status_code == 200, changed.text
    assert changed.json()["priority"] == 7
    assert api.get(f"/api/v1/campaigns/{cid}/contacts/+12015550133").json()["priority"] == 7
    too_big = api.patch(f"/api/v1/campaigns/{cid}/contacts/crm-1", json={"priority": 10**9})
    assert too_big.status_code == 422
    trail = api.get("/api/v1/audit", params={"campaign_id": cid}).json()["items"]
    assert [(e["before"], e["after"]) for e in trail if e["action"] == "contact.priority"] == [
        ({"priority": 0}, {"priority": 7})
    ]


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    app = typer.Typer()
    operator.register(app)
    contacts_cli.register(app)
    yield app
    get_settings.cache_clear()


def test_the_cli_lists_shows_disposes_and_prioritises(
    cli: typer.Typer, spec_file: Path, tmp_path: Path, database_url: str
) -> None:
    cid = str(run_json(cli, "create", "-f", str(spec_file))["id"])
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone,external_id\n2015550141,x-1\n2015550142,x-2\n")
    run_json(cli, "upload", cid, str(contacts))

    answer = run_json(cli, "contacts", "disposition", cid, "x-1", "wrong_number")
    assert answer["contact_state"] == "invalid"
    assert run_json(cli, "contacts", "priority", cid, "+12015550142", "5")["priority"] == 5
    listed = run_json(cli, "contacts", "list", cid, "--disposition", "wrong_number")
    assert [c["external_id"] for c in listed["items"]] == ["x-1"]
    shown = run_json(cli, "contacts", "show", cid, "x-2")
    assert (shown["priority"], shown["state"]) == (5, "pending")

    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-c", "from campaign.cli import main; main()"]
    wrong = subprocess.run(
        [*command, "contacts", "disposition", cid, "x-2", "maybe"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        "error: disposition: 'maybe' is not one of done, callback, do_not_call, wrong_number, retry"
    ]
