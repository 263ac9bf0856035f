"""`campaign rerun` and `POST /api/v1/campaigns/{id}/rerun` against real PostgreSQL: shapes,
scopes, refusals, and what an upload to a completed campaign reports."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import typer
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from campaign.db.engine import transaction
from campaign.db.tables import CampaignRow
from tests.operator.conftest import run, run_json
from tests.operator.test_api import PROBLEM, READER, _create, _upload, api
from tests.operator.test_cli import _campaign, spec_file

__all__ = ["api", "spec_file"]  # fixtures shared with the CLI and API tests


def _complete(sessions: sessionmaker[Session], campaign_id: int) -> None:
    """What the sweeper does when nothing is left to call."""
    with transaction(sessions) as session:
        session.execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id).values(state="completed")
        )


def _csv(folder: Path, name: str, *phones: str) -> str:
    path = folder / name
    path.write_text("phone\n" + "\n".join(phones) + "\n")
    return str(path)


def _started(cli: typer.Typer, spec_file: Path, folder: Path, *phones: str) -> int:
    """A campaign created, given `phones` and started through the CLI."""
    cid: int = run_json(cli, "create", "-f", str(spec_file))["id"]
    run(cli, "upload", str(cid), _csv(folder, "contacts.csv", *phones))
    run(cli, "start", str(cid))
    return cid


def test_cli_rerun_prints_run_and_reopened_and_refuses_a_repeat(
    cli: typer.Typer, spec_file: Path, tmp_path: Path, database_url: str
) -> None:
    cid = _started(cli, spec_file, tmp_path, "2015550123", "2015550124")
    run(cli, "cancel", str(cid))

    assert run_json(cli, "rerun", str(cid)) == {
        "id": cid,
        "run": 2,
        "reopened": 2,
        "outcomes": None,
    }
    assert run_json(cli, "status", str(cid))["contacts"] == {"pending": 2}

    env = {**os.environ, "DATABASE_URL": database_url}
    again = _campaign(env, "rerun", str(cid))
    assert again.returncode == 1
    assert again.stderr == (
        f"error: campaign {cid} is running: rerun opens a new run of a completed or cancelled "
        "campaign (wait until it completes, or cancel it first)\n"
    )
    bogus = _campaign(env, "rerun", str(cid), "--outcomes", "busy,bsy")
    assert bogus.returncode == 1
    assert bogus.stderr.startswith('error: --outcomes: "bsy" is not an outcome class (busy, ')
    assert bogus.stderr.count("\n") == 1
    run(cli, "cancel", str(cid))
    text = run(cli, "rerun", str(cid), "--outcomes", "busy").stdout
    assert text.strip() == f"campaign {cid}: run 3 opened, 0 contacts reopened"


def test_cli_upload_to_a_completed_campaign_says_it_reopened(
    cli: typer.Typer,
    spec_file: Path,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
) -> None:
    cid = _started(cli, spec_file, tmp_path, "2015550123")
    _complete(session_factory, cid)
    started = run(cli, "start", str(cid)).stdout.strip()
    assert started == f"campaign {cid} already completed (`campaign rerun {cid}` opens a new run)"

    report = run_json(
        cli, "upload", str(cid), _csv(tmp_path, "more.csv", "2015550125", "2015550126")
    )

    assert (report["accepted"], report["reopened_run"]) == (2, 2)
    assert (
        report["note"] == f"campaign {cid} had completed: run 2 opened to call the 2 new contacts"
    )
    _complete(session_factory, cid)
    lines = run(
        cli, "upload", str(cid), _csv(tmp_path, "last.csv", "2015550127")
    ).stdout.splitlines()
    assert lines == [
        "accepted 1, duplicates 0, suppressed 0, rejected 0",
        f"campaign {cid} had completed: run 3 opened to call the 1 new contacts",
    ]


def test_api_rerun_needs_the_operator_scope_and_answers_run_and_reopened(
    api: httpx.Client, server: str
) -> None:
    cid = _create(api)
    assert _upload(api, cid, "phone\n+12015550123\n+12015550124\n").json()["accepted"] == 2
    base = f"/api/v1/campaigns/{cid}"
    api.post(f"{base}/start")
    not_over = api.post(f"{base}/rerun")
    assert not_over.status_code == 409
    assert not_over.headers["content-type"] == PROBLEM
    assert "rerun opens a new run of a completed or cancelled campaign" in not_over.json()["detail"]
    api.post(f"{base}/cancel")

    with httpx.Client(base_url=server, headers=READER) as reader:
        assert reader.post(f"{base}/rerun").status_code == 403
    bogus = api.post(f"{base}/rerun", json={"outcomes": ["bsy"]})
    assert bogus.status_code == 422
    assert bogus.json()["detail"].startswith('outcomes: "bsy" is not an outcome class (busy, ')
    assert api.post(f"{base}/rerun", json={"outcomes": []}).status_code == 422

    rerun = api.post(f"{base}/rerun", json={"outcomes": None})
    assert rerun.status_code == 200, rerun.text
    assert rerun.json() == {"id": cid, "run": 2, "reopened": 2, "outcomes": None}
    api.post(f"{base}/cancel")
    by_outcome = api.post(f"{base}/rerun", json={"outcomes": ["busy", "machine"]})
    assert by_outcome.json() == {
        "id": cid,
        "run": 3,
        "reopened": 0,
        "outcomes": ["busy", "machine"],
    }
    api.post(f"{base}/cancel")


def test_api_upload_to_a_completed_campaign_reports_the_run_it_opened(
    api: httpx.Client, session_factory: sessionmaker[Session]
) -> None:
    cid = _create(api)
    _upload(api, cid, "phone\n+12015550123\n")
    api.post(f"/api/v1/campaigns/{cid}/start")
    _complete(session_factory, cid)

    report = _upload(api, cid, "phone\n+12015550130\n").json()

    assert (report["accepted"], report["reopened_run"]) == (1, 2)
    assert "run 2 opened to call the 1 new contacts" in report["note"]
    assert api.get(f"/api/v1/campaigns/{cid}").json()["state"] == "running"


def test_openapi_documents_the_rerun_body_and_answer(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/campaigns/{campaign_id}/rerun"]["post"]
    assert "409" in operation["responses"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "RerunRequest" in str(body)
    assert {"run", "reopened"} <= set(schema["components"]["schemas"]["RerunResult"]["properties"])
