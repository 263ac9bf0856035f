"""The account policy and the audit trail through the CLI and the API, on real PostgreSQL:
validation with paths, versions, and every operator verb recorded with who did it."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
import yaml
from pydantic import SecretStr
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from campaign.api.app import create_app
from campaign.db.engine import transaction
from campaign.db.tables import DncRow
from campaign.errors import SpecInvalid
from campaign.runtime import Runtime
from campaign.services import account
from campaign.settings import Settings
from tests.operator.conftest import run, run_json, spec_doc
from tests.support.asgi import serve

POLICY = {
    "trunks": {"default": {"cps": 20, "max_live_calls": 100}},
    "compliance": {
        "per_number": {"per_day": 3, "per_week": 7, "min_gap": "4h"},
        "hours": {"default": "08:00-21:00", "US-FL": "08:00-20:00"},
        "holidays": ["US", "GB"],
    },
}
NAMED = {"Authorization": "Bearer named-operator-key"}
UNNAMED = {"Authorization": "Bearer op-key"}
VERBS = ["create", "edit", "start", "pause", "resume", "cancel", "rerun"]


DNC = ["+13125550196", "+13125550197", "+13125550198", "+13125550199"]


@pytest.fixture(autouse=True)
def _no_account_rules_after(session_factory: sessionmaker[Session]) -> Iterator[None]:
    """Other tests share this database: leave it with no account rules in force, and none of
    this module's numbers on the do-not-call list."""
    yield
    with transaction(session_factory) as session:
        account.apply(session, {})
        session.execute(delete(DncRow).where(DncRow.phone.in_(DNC)))


@pytest.fixture(scope="module")
def named_server(settings: Settings) -> Iterator[str]:
    """The app with one named operator key, one unnamed and a read key."""
    keys = "ops-bot=named-operator-key:operator,op-key:operator,read-key:read"
    named = settings.model_copy(update={"api_keys": SecretStr(keys)})
    runtime = Runtime(named, pool_size=4)
    with serve(create_app(named, runtime)) as url:
        yield url
    runtime.close()


@pytest.fixture
def api(named_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=named_server, headers=NAMED, timeout=30) as client:
        yield client


def test_cli_applies_and_shows_the_policy_and_refuses_a_bad_one_naming_each_path(
    cli: typer.Typer, tmp_path: Path
) -> None:
    good = tmp_path / "account.yaml"
    good.write_text(yaml.safe_dump(POLICY))
    applied = run_json(cli, "account", "apply", "-f", str(good))
    assert applied["changed"] is True
    assert applied["applied_by"] == f"cli:{getpass.getuser()}"
    again = run_json(cli, "account", "apply", "-f", str(good))
    assert (again["changed"], again["version"]) == (False, applied["version"])
    shown = run_json(cli, "account", "show")
    assert shown["policy"]["compliance"]["hours"]["US-FL"] == "08:00-20:00"
    assert "version" in run(cli, "account", "show").stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"compliance": {"hours": {"US-FL": "8pm"}, "holidays": ["XX"]}}))
    with pytest.raises(SpecInvalid) as caught:
        run(cli, "account", "apply", "-f", str(bad))
    assert caught.value.errors == [
        f'{bad}: compliance.hours.US-FL: "8pm" is not HH:MM-HH:MM',
        'compliance.holidays[0]: "XX" is not a country with a known holiday calendar '
        "(ISO 3166 alpha-2, such as US or GB)",
    ]


def test_every_cli_verb_is_in_the_audit_trail_with_the_os_user(
    cli: typer.Typer, tmp_path: Path
) -> None:
    who = f"cli:{getpass.getuser()}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_doc()))
    cid = str(run_json(cli, "create", "-f", str(spec))["id"])
    edit = tmp_path / "edit.yaml"
    edit.write_text(yaml.safe_dump({"pacing": {"cps": 2, "max_live_calls": 5}}))
    run(cli, "edit", cid, "-f", str(edit))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone\n+12015550123\n")
    run(cli, "upload", cid, str(contacts))
    for verb in ("start", "pause", "resume", "cancel", "rerun"):
        run(cli, verb, cid)
    run(cli, "dnc", "add", DNC[3])
    run(cli, "dnc", "remove", DNC[3])
    dnc_file = tmp_path / "dnc.csv"
    dnc_file.write_text(f"phone\n{DNC[2]}\n")
    run(cli, "dnc", "import", str(dnc_file))
    policy = tmp_path / "account.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    run(cli, "account", "apply", "-f", str(policy))

    mine = run_json(cli, "audit", "--campaign", cid)["items"]
    actions = [item["action"] for item in mine]
    assert actions == [
        "campaign.create", "campaign.edit", "contacts.upload", "campaign.start",
        "campaign.pause", "campaign.resume", "campaign.cancel", "campaign.rerun",
    ]  # fmt: skip
    assert {item["actor"] for item in mine} == {who}
    edited = mine[1]
    assert edited["before"]["pacing"]["cps"] == 5
    assert edited["after"]["pacing"]["cps"] == 2
    assert (mine[3]["before"], mine[3]["after"]) == ({"state": "draft"}, {"state": "running"})
    assert mine[2]["detail"]["accepted"] == 1
    recent = run_json(cli, "audit", "--since", "1h")["items"]
    tail = [(item["action"], item["actor"]) for item in recent[-4:]]
    assert tail == [("dnc.add", who), ("dnc.remove", who), ("dnc.import", who),
                    ("account.apply", who)]  # fmt: skip
    assert recent[-1]["after"]["compliance"]["holidays"] == ["US", "GB"]
    assert "campaign.create" in run(cli, "audit", "--campaign", cid).stdout


def test_every_api_verb_is_in_the_audit_trail_under_the_keys_name(
    api: httpx.Client, named_server: str
) -> None:
    response = api.post("/api/v1/campaigns", json=spec_doc())
    assert response.status_code == 201, response.text
    cid = response.json()["id"]
    assert api.patch(f"/api/v1/campaigns/{cid}", json={"retry": {"max_attempts": 2}}).is_success
    files = {"file": ("contacts.csv", b"phone\n+12015550123\n", "text/csv")}
    assert api.post(f"/api/v1/campaigns/{cid}/contacts", files=files).is_success
    for verb in ("start", "pause", "resume", "cancel", "rerun"):
        assert api.post(f"/api/v1/campaigns/{cid}/{verb}").is_success, verb
    assert api.post("/api/v1/dnc", json={"numbers": [DNC[1]]}).is_success
    assert api.delete(f"/api/v1/dnc/{DNC[1]}").is_success
    dnc = {"file": ("dnc.csv", f"phone\n{DNC[0]}\n".encode(), "text/csv")}
    assert api.post("/api/v1/dnc/import", files=dnc).is_success
    put = api.put("/api/v1/account", json=POLICY)
    assert put.status_code == 200, put.text
    assert (put.json()["changed"], put.json()["applied_by"]) == (True, "ops-bot")
    unnamed = api.put("/api/v1/account", json={}, headers=UNNAMED).json()["applied_by"]
    assert unnamed.startswith("key:")
    assert "op-key" not in unnamed

    trail = api.get("/api/v1/audit", params={"campaign_id": cid}).json()["items"]
    assert [item["action"] for item in trail] == [f"campaign.{v}" for v in VERBS[:2]] + [
        "contacts.upload",
        *(f"campaign.{v}" for v in VERBS[2:]),
    ]
    assert {item["actor"] for item in trail} == {"ops-bot"}
    since = trail[0]["at"]
    recent = api.get("/api/v1/audit", params={"since": since, "limit": 1000}).json()["items"]
    tail = [(item["action"], item["actor"]) for item in recent if item["campaign_id"] is None]
    assert tail[-5:] == [("dnc.add", "ops-bot"), ("dnc.remove", "ops-bot"),
                         ("dnc.import", "ops-bot"), ("account.apply", "ops-bot"),
                         ("account.apply", unnamed)]  # fmt: skip


def test_the_api_shows_the_policy_and_refuses_a_bad_one_or_a_read_key(api: httpx.Client) -> None:
    bad = api.put("/api/v1/account", json={"trunks": {"carrier-b": {"cps": -1}}})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        "trunks.carrier-b.cps: -1 is not a number above 0, at most 1000"
    ]
    reader = {"Authorization": "Bearer read-key"}
    assert api.put("/api/v1/account", json=POLICY, headers=reader).status_code == 403
    assert api.put("/api/v1/account", json=POLICY).status_code == 200
    shown = api.get("/api/v1/account", headers=reader).json()
    assert shown["policy"]["trunks"] == {"default": {"cps": 20.0, "max_live_calls": 100}}
    assert shown["applied_by"] == "ops-bot"


def test_required_consent_suppresses_contacts_without_it_with_the_reason_in_the_report(
    api: httpx.Client,
) -> None:
    assert api.put("/api/v1/account", json={"compliance": {"require_consent": True}}).is_success
    cid = api.post("/api/v1/campaigns", json=spec_doc()).json()["id"]
    csv_text = (
        "phone,consent,region\n"
        "+13055550101,true,US-FL\n"
        "+13055550102,,US-FL\n"
        "+13055550103,2026-01-15,\n"
        "+13055550104,no,\n"
        "+13055550105,perhaps,\n"
    )
    files = {"file": ("c.csv", csv_text.encode(), "text/csv")}
    report = api.post(f"/api/v1/campaigns/{cid}/contacts", files=files).json()
    assert (report["accepted"], report["suppressed"]) == (2, 2)
    assert report["suppressed_reasons"] == {"no consent": 2}
    assert report["suppressed_rows"] == [
        {"line": 3, "value": "+13055550102", "reason": "no consent"},
        {"line": 5, "value": "+13055550104", "reason": "no consent"},
    ]
    assert report["rejected"] == [
        {
            "line": 6,
            "value": "perhaps",
            "reason": 'consent "perhaps" is not true, false or a date (YYYY-MM-DD)',
        }
    ]
    contacts = api.get(f"/api/v1/campaigns/{cid}/contacts", params={"state": "suppressed"})
    assert [c["closed_reason"] for c in contacts.json()["items"]] == ["no consent"] * 2
