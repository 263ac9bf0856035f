"""The operator CLI against real PostgreSQL: each verb, its --json shape, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from tests.operator.conftest import run, run_json, spec_doc
from tests.support.services import free_port


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_doc()))
    return path


@pytest.fixture
def contacts_file(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("phone,external_id,name\n2015550123,a,Ann\n12,b,Bad\n2015550124,c,Cy\n")
    return path


def test_create_prints_the_id_and_json_echoes_the_spec(cli: typer.Typer, spec_file: Path) -> None:
    plain = run(cli, "create", "-f", str(spec_file)).stdout.strip()
    created = run_json(cli, "create", "-f", str(spec_file))
    assert plain.isdigit()
    assert created["id"] > int(plain)
    assert created["spec"]["pacing"]["max_call_duration"] == "2m"
    assert created["spec"]["gateway"]["timeoutInMs"] == 60000


def test_whole_operator_flow_with_json(
    cli: typer.Typer, spec_file: Path, contacts_file: Path, tmp_path: Path
) -> None:
    cid = run_json(cli, "create", "-f", str(spec_file))["id"]
    rejects = tmp_path / "rejects.csv"
    report = run_json(cli, "upload", str(cid), str(contacts_file), "--rejects-csv", str(rejects))
    assert (report["accepted"], report["duplicates"], report["suppressed"]) == (2, 0, 0)
    assert report["rejected"] == [
        {"line": 3, "value": "12", "reason": "not a valid number for region US"}
    ]
    assert rejects.read_text().splitlines()[1].startswith("3,12,")
    assert run_json(cli, "start", str(cid))["state"] == "running"
    assert run_json(cli, "start", str(cid))["changed"] is False
    status = run_json(cli, "status", str(cid))
    picked = {k: status[k] for k in ("id", "state", "contacts", "attempts", "live_calls")}
    assert picked == {
        "id": cid,
        "state": "running",
        "contacts": {"pending": 2},
        "attempts": 0,
        "live_calls": 0,
    }
    assert set(status) >= {"outcomes", "calls_per_second", "waiting", "paused_reason", "runs"}
    assert run_json(cli, "pause", str(cid))["state"] == "paused"
    assert run_json(cli, "resume", str(cid))["state"] == "running"
    out = tmp_path / "export.csv"
    assert "wrote 0 attempts" in run(cli, "export", str(cid), "-o", str(out)).stdout
    assert out.read_text().startswith("contact_id,external_id,number,zone,local_time")
    assert run_json(cli, "cancel", str(cid))["state"] == "cancelled"
    assert run_json(cli, "status", str(cid))["contacts"] == {"cancelled": 2}


def test_status_watch_ends_when_the_campaign_is_final(cli: typer.Typer, spec_file: Path) -> None:
    cid = run_json(cli, "create", "-f", str(spec_file))["id"]
    run(cli, "cancel", str(cid))
    lines = run(cli, "status", str(cid), "--watch", "--json").stdout.splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["cancelled"]
    assert "contacts finished" in run(cli, "status", str(cid), "--watch").stdout


def test_edit_changes_pacing(cli: typer.Typer, spec_file: Path, tmp_path: Path) -> None:
    cid = run_json(cli, "create", "-f", str(spec_file))["id"]
    patch = tmp_path / "patch.yaml"
    patch.write_text("pacing: {cps: 1.5, max_live_calls: 4}\n")
    assert run_json(cli, "edit", str(cid), "-f", str(patch))["spec"]["pacing"]["cps"] == 1.5


def test_dnc_commands(cli: typer.Typer, tmp_path: Path) -> None:
    added = run_json(
        cli, "dnc", "add", "2025550171", "+12025550172", "--region", "US", "--expires", "30d"
    )
    assert added == {"added": ["+12025550171", "+12025550172"]}
    listed = run_json(cli, "dnc", "list")["items"]
    assert {"+12025550171", "+12025550172"} <= {e["phone"] for e in listed}
    imported = tmp_path / "dnc.csv"
    imported.write_text("phone,note\n+12025550173,x\nbad,\n")
    report = run_json(cli, "dnc", "import", str(imported))
    assert report["added"] == 1
    assert report["rejected"][0]["line"] == 3
    assert run_json(cli, "dnc", "remove", "+12025550171", "+12025550173") == {"removed": 2}
    run(cli, "dnc", "remove", "+12025550172")


def test_policy_check_takes_a_whole_spec_or_just_a_policy(
    cli: typer.Typer, spec_file: Path, tmp_path: Path
) -> None:
    assert run_json(cli, "policy", "check", "-f", str(spec_file))["valid"] is True
    policy = tmp_path / "policy.yaml"
    policy.write_text("retry: {max_attempts: 2, outcomes: {busy: {delays: [1m]}}}\n")
    echoed = run_json(cli, "policy", "check", "-f", str(policy))["spec"]
    assert echoed["retry"]["max_attempts"] == 2


def _campaign(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from campaign.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url}


def test_errors_exit_non_zero_with_one_line_naming_what_and_where(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec_doc(retry={"outcomes": {"busy": {"delays": ["2m", "5x"]}}})))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ngateway: [unclosed\n")
    cases = [
        (("create", "-f", str(bad)), f'{bad}: retry.outcomes.busy.delays[1]: "5x" is not a'),
        (("create", "-f", str(broken)), f"{broken}: line 3"),
        (("create", "-f", str(tmp_path / "missing.yaml")), "missing.yaml: No such file"),
        (("start", "987654"), "campaign 987654 does not exist"),
        (("policy", "check", "-f", str(bad)), "delays[1]"),
    ]
    for args, message in cases:
        result = _campaign(env, *args)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert message in lines[0]


def test_upload_of_a_file_without_phone_column_is_refused(
    env: dict[str, str], spec_file: Path, tmp_path: Path
) -> None:
    created = _campaign(env, "create", "-f", str(spec_file))
    csv_path = tmp_path / "nophone.csv"
    csv_path.write_text("name,email\nAnn,a@example.com\n")
    result = _campaign(env, "upload", created.stdout.strip(), str(csv_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'error: {csv_path}: header (line 1) has no phone column (found "name", "email")'
    )


def test_commands_need_database_url(env: dict[str, str]) -> None:
    without = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    result = _campaign(without, "status", "1")
    assert result.returncode == 1
    assert "DATABASE_URL is not set" in result.stderr


def test_unreachable_database_is_one_line(env: dict[str, str]) -> None:
    result = _campaign(
        {**env, "DATABASE_URL": f"postgresql://u@127.0.0.1:{free_port()}/x"}, "status", "1"
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: PostgreSQL (DATABASE_URL): ")
