"""Helpers for the operator surfaces: spec documents and CSV bytes built in memory."""

from __future__ import annotations

import copy
import io
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from campaign.api.app import create_app
from campaign.cli import account as account_cli
from campaign.cli import operator
from campaign.db.engine import transaction
from campaign.db.tables import CampaignRow
from campaign.runtime import Runtime
from campaign.services import campaigns, lifecycle, uploads
from campaign.settings import Settings, get_settings
from tests.support.asgi import serve

OPERATOR = {"Authorization": "Bearer op-key"}
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

SPEC: dict[str, Any] = {
    "name": "renewals",
    "gateway": {"bot": "st-bot", "caller": "+12706165788", "machineDetection": "detect"},
    "pacing": {"cps": 5, "max_live_calls": 10, "max_call_duration": "2m"},
    "retry": {"max_attempts": 3, "outcomes": {"busy": {"delays": ["2m", "10m"]}}},
    "default_region": "US",
}


def spec_doc(**overrides: Any) -> dict[str, Any]:
    """A valid spec with a unique name; top-level keys replaced by `overrides`."""
    doc = copy.deepcopy(SPEC)
    doc["name"] = f"renewals-{secrets.token_hex(3)}"
    doc.update(overrides)
    return doc


def csv_bytes(text: str, *, bom: bool = False, crlf: bool = False) -> io.BytesIO:
    """A CSV file in memory, as a binary stream the upload reads."""
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode()
    return io.BytesIO((b"\xef\xbb\xbf" if bom else b"") + data)


@pytest.fixture
def spec() -> dict[str, Any]:
    return spec_doc()


def running_campaign(db: Session, spec: dict[str, Any], contacts_csv: str) -> int:
    """A started campaign holding the contacts of `contacts_csv`; its id."""
    cid = campaigns.create_campaign(db, spec).id
    uploads.import_contacts(db, cid, csv_bytes(contacts_csv), now=NOW)
    lifecycle.start(db, cid, now=NOW)
    return cid


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[str]:
    """The whole HTTP app on uvicorn, 127.0.0.1, a free port; keys op-key and read-key."""
    runtime = Runtime(settings, pool_size=4)
    with serve(create_app(settings, runtime)) as url:
        yield url
    runtime.close()


@pytest.fixture(scope="module", autouse=True)
def _cancel_leftover_campaigns(session_factory: sessionmaker[Session]) -> Iterator[None]:
    """Campaigns this module committed (CLI and API tests) are cancelled at its end, so a
    dispatcher tick in another test never dials their contacts."""
    with transaction(session_factory) as session:
        first = (session.scalar(select(func.max(CampaignRow.id))) or 0) + 1
    yield
    with transaction(session_factory) as session:
        ids = session.scalars(
            select(CampaignRow.id).where(
                CampaignRow.id >= first, CampaignRow.state.not_in(("cancelled", "completed"))
            )
        ).all()
        for campaign_id in ids:
            lifecycle.cancel(session, campaign_id, now=NOW)


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """The operator and account commands, on this session's database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    app = typer.Typer()
    operator.register(app)
    account_cli.register(app)
    yield app
    get_settings.cache_clear()


def run(app: typer.Typer, *args: str) -> Any:
    """Invoke a command in-process; an engine error is raised as itself."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def run_json(app: typer.Typer, *args: str) -> Any:
    return json.loads(run(app, *args, "--json").stdout)
