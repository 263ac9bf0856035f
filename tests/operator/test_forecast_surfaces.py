"""The forecast where operators meet it: `campaign forecast` (stored and what-if), the API route,
and `campaign status`, over real PostgreSQL and real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import campaign.cli as campaign_cli
from campaign.db.engine import transaction
from campaign.db.tables import CampaignRow
from campaign.settings import get_settings
from tests.operator.conftest import OPERATOR, spec_doc

READER = {"X-API-Key": "read-key"}
CONTRACT_KEYS = {
    "as_of", "finish", "calls_remaining", "contacts_reached", "outcomes", "by_day",
    "limited_by", "never_finishes", "basis",
}  # fmt: skip
CONTACTS = "phone,external_id\n2015550123,a\n12,b\n2015550124,c\n2015550124,d\n"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """The whole `campaign` app, on the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield campaign_cli.app
    get_settings.cache_clear()


def _campaign(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`campaign ARGS` in a process of its own (the real entry point, one-line errors)."""
    argv = [sys.executable, "-m", "campaign", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


def _ok(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    spec, contacts = tmp_path / "spec.yaml", tmp_path / "contacts.csv"
    spec.write_text(yaml.safe_dump(spec_doc()))
    contacts.write_text(CONTACTS)
    return spec, contacts


def _started(app: typer.Typer, spec: Path, contacts: Path) -> int:
    cid = int(json.loads(_ok(app, "create", "-f", str(spec), "--json"))["id"])
    _ok(app, "upload", str(cid), str(contacts), "--json")
    _ok(app, "start", str(cid))
    return cid


def test_forecast_json_has_the_contract_fields_in_zone_and_utc(
    cli: typer.Typer, files: tuple[Path, Path]
) -> None:
    cid = _started(cli, *files)

    data = json.loads(_ok(cli, "forecast", str(cid), "--json"))

    assert set(data) >= CONTRACT_KEYS | {"finish_utc"}
    assert set(data["finish"]) == {"p10", "p50", "p90"}
    for key in ("p10", "p50", "p90"):
        local, utc = data["finish"][key], data["finish_utc"][key]
        assert datetime.fromisoformat(local) == datetime.fromisoformat(utc)
        assert datetime.fromisoformat(local).utcoffset() is not None
    assert data["calls_remaining"]["p50"] >= 2
    assert data["limited_by"] in ("pace", "live calls", "windows", "retry delays", "frequency caps")
    assert data["basis"] == "assumed"
    assert data["run"] == 1


def test_forecast_prints_a_table_for_people(cli: typer.Typer, files: tuple[Path, Path]) -> None:
    cid = _started(cli, *files)

    text = _ok(cli, "forecast", str(cid))

    for label in ("finish", "calls left", "reached", "limited by", "basis", "assumes"):
        assert label in text


def test_what_if_forecasts_a_spec_and_file_and_creates_nothing(
    cli: typer.Typer, files: tuple[Path, Path], session_factory: sessionmaker[Session]
) -> None:
    spec, contacts = files
    with transaction(session_factory) as session:
        before = session.scalar(select(func.count()).select_from(CampaignRow))

    data = json.loads(_ok(cli, "forecast", "-f", str(spec), "--contacts", str(contacts), "--json"))
    what_if = ("forecast", "-f", str(spec), "--contacts", str(contacts), "--json")
    faster = json.loads(_ok(cli, *what_if, "--cps", "50", "--max-live-calls", "100"))

    assert set(data) >= CONTRACT_KEYS
    assert data["upload"]["accepted"] == 2
    assert data["upload"]["duplicates"] == 1
    assert data["upload"]["rejected"] == [
        {"line": 3, "value": "12", "reason": "not a valid number for region US"}
    ]
    assert faster["finish_utc"]["p50"] <= data["finish_utc"]["p50"]
    with transaction(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(CampaignRow)) == before


def test_what_if_needs_no_database(files: tuple[Path, Path], tmp_path: Path) -> None:
    spec, contacts = files
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    done = _campaign("forecast", "-f", str(spec), "--contacts", str(contacts), "--json", env=env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["upload"]["accepted"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a campaign ID, or -f SPEC with --contacts FILE.csv"),
        (("-f", "SPEC"), "give a campaign ID, or -f SPEC with --contacts FILE.csv"),
        (("7", "-f", "SPEC", "--contacts", "CSV"), "not both"),
        (("-f", "SPEC", "--contacts", "missing.csv"), "missing.csv: No such file"),
        (("-f", "SPEC", "--contacts", "CSV", "--cps", "0"), "--cps: must be > 0"),
    ],
)
def test_forecast_errors_are_one_line_naming_the_problem(
    files: tuple[Path, Path], args: tuple[str, ...], message: str
) -> None:
    spec, contacts = files
    argv = [a.replace("SPEC", str(spec)).replace("CSV", str(contacts)) for a in args]

    done = _campaign("forecast", *argv)

    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr


def test_a_bad_spec_names_the_file_and_the_path(files: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec_doc(retry={"outcomes": {"busy": {"delays": ["5x"]}}})))

    done = _campaign("forecast", "-f", str(bad), "--contacts", str(files[1]))

    assert done.returncode == 1
    assert f"{bad}: retry.outcomes.busy.delays[0]" in done.stderr


def test_status_shows_the_forecast_and_keeps_its_fields(
    cli: typer.Typer, files: tuple[Path, Path]
) -> None:
    cid = _started(cli, *files)

    status = json.loads(_ok(cli, "status", str(cid), "--json"))
    text = _ok(cli, "status", str(cid))

    kept = {"id", "state", "contacts", "outcomes", "attempts", "live_calls", "calls_per_second"}
    assert kept | {"waiting", "eta_seconds"} <= set(status)
    assert set(status["forecast"]) >= CONTRACT_KEYS
    assert status["eta_seconds"] is not None
    assert "forecast finish" in text


@pytest.fixture
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers=OPERATOR, timeout=60) as client:
        yield client


def _api_campaign(api: httpx.Client) -> int:
    cid: int = api.post("/api/v1/campaigns", json=spec_doc()).json()["id"]
    files = {"file": ("c.csv", CONTACTS.encode(), "text/csv")}
    assert api.post(f"/api/v1/campaigns/{cid}/contacts", files=files).status_code == 200
    assert api.post(f"/api/v1/campaigns/{cid}/start").status_code == 200
    return cid


def test_api_forecast_answers_read_keys_with_the_cli_shape(api: httpx.Client) -> None:
    cid = _api_campaign(api)

    response = api.get(f"/api/v1/campaigns/{cid}/forecast", headers=READER)
    what_if = api.get(f"/api/v1/campaigns/{cid}/forecast", params={"cps": 0.5}, headers=READER)

    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= CONTRACT_KEYS | {"finish_utc", "run"}
    assert what_if.json()["finish_utc"]["p50"] >= body["finish_utc"]["p50"]
    status = api.get(f"/api/v1/campaigns/{cid}/status", headers=READER).json()
    assert set(status["forecast"]) >= CONTRACT_KEYS


def test_api_forecast_errors_are_problems(api: httpx.Client) -> None:
    unknown = api.get("/api/v1/campaigns/999999999/forecast")
    bad = api.get("/api/v1/campaigns/1/forecast", params={"cps": 0})
    anonymous = httpx.get(f"{api.base_url}/api/v1/campaigns/1/forecast")

    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert bad.status_code == 422
    assert anonymous.status_code == 401


def test_api_forecast_is_documented_in_openapi(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()

    operation = schema["paths"]["/api/v1/campaigns/{campaign_id}/forecast"]["get"]
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["$ref"].endswith("/Forecast")
    fields = schema["components"]["schemas"]["Forecast"]["properties"]
    assert set(fields) >= CONTRACT_KEYS
