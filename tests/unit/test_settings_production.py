"""ENVIRONMENT=production refuses unsafe values in every process, and no secret reaches a repr."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign.errors import InvalidInput
from campaign.runtime import Runtime
from campaign.services.dialing import DialDeps
from campaign.settings import Environment, Settings, load_settings

OWN = "own-secret-of-forty-random-characters-xyzw"  # 43 bytes
VENDOR = "vendor-issued-secret-17"
KEY = "an-operator-key-of-at-least-32-bytes-0001"
PRODUCTION = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql://campaign:pg-password-0123@db:5432/campaign",
    "REDIS_URL": "redis://redis:6379/0",
    "SAVG_BASE_URL": "https://savg.example.com",
    "SAVG_CLIENT_ID": "cs-5f1c9a",
    "SAVG_CLIENT_SECRET": VENDOR,
    "NOTIFY_BASE_URL": "https://campaign.example.com",
    "NOTIFY_SECRET": OWN,
    "API_KEYS": f"{KEY}:operator",
}


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean environment holding a valid production configuration (and no `.env` to read)."""
    for name in list(os.environ):
        if name.upper() in Settings.model_fields or name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    return dict(PRODUCTION)


def test_a_real_production_configuration_is_accepted(production_env: dict[str, str]) -> None:
    settings = load_settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.production


@pytest.mark.parametrize("spelling", ["prod", "Production", "production ", "PRODUCTION", ""])
def test_environment_refuses_anything_but_development_or_production(
    production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", spelling)
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("ENVIRONMENT: ")
    assert "'development' or 'production'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("NOTIFY_SECRET", "REPLACE_ME", "NOTIFY_SECRET: a development or placeholder value"),
        ("NOTIFY_SECRET", "dev-notify-secret-change-me", "NOTIFY_SECRET: a development"),
        ("NOTIFY_SECRET", "x", "NOTIFY_SECRET: 1 bytes; production needs at least 32"),
        ("NOTIFY_SECRET", "s" * 31, "NOTIFY_SECRET: 31 bytes"),
        ("NOTIFY_SECRET_PREVIOUS", "too-short", "NOTIFY_SECRET_PREVIOUS: 9 bytes"),
        ("SAVG_CLIENT_SECRET", "REPLACE_ME", "SAVG_CLIENT_SECRET: a development"),
        ("SAVG_CLIENT_SECRET", "abc", "SAVG_CLIENT_SECRET: 3 bytes; production needs at least 16"),
        ("SAVG_CLIENT_ID", "dev-client", "SAVG_CLIENT_ID: a development"),
        ("SAVG_WEBHOOK_SECRET", "", "SAVG_WEBHOOK_SECRET: Value error, is empty"),
        ("SAVG_WEBHOOK_SECRET", "  ", "SAVG_WEBHOOK_SECRET: Value error, is empty"),
        ("SAVG_WEBHOOK_SECRET", "w", "SAVG_WEBHOOK_SECRET: 1 bytes"),
        ("API_KEYS", "dev-operator-key:operator", "API_KEYS: entry 1 (operator): a development"),
        ("API_KEYS", f"{KEY}:operator,REPLACE_ME:read", "API_KEYS: entry 2 (read): a develop"),
        ("API_KEYS", f"{KEY}:operator,short:read", "API_KEYS: entry 2 (read): 5 bytes"),
        ("NOTIFY_BASE_URL", "http://campaign.example.com", "NOTIFY_BASE_URL: must be an https"),
        ("SAVG_BASE_URL", "http://savg.example.com", "SAVG_BASE_URL: must be an https"),
        (
            "DATABASE_URL",
            "postgresql://campaign:REPLACE_ME@db:5432/campaign",
            "DATABASE_URL: the password is a development or placeholder value",
        ),
        ("REDIS_URL", "redis://:REPLACE_ME@redis:6379/0", "REDIS_URL: the password is a develop"),
        ("REDIS_PASSWORD", "REPLACE_ME", "REDIS_PASSWORD: a development"),
    ],
)
def test_production_refuses_unsafe_values_naming_the_variable_never_the_value(
    production_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    secret = value.partition(":")[0] if name == "API_KEYS" else value
    if len(secret.strip()) > 3 and name not in ("NOTIFY_BASE_URL", "SAVG_BASE_URL"):
        assert secret not in message


def test_production_lists_every_problem_at_once(production_env: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(notify_secret="x", savg_base_url="http://savg")
    assert "NOTIFY_SECRET:" in str(caught.value)
    assert "SAVG_BASE_URL:" in str(caught.value)


def test_empty_webhook_secret_is_unset_in_development_not_an_empty_key() -> None:
    settings = load_settings(savg_webhook_secret="", notify_secret_previous=" ")
    assert settings.savg_webhook_secret is None
    assert settings.notify_secret_previous is None
    assert settings.notify_secrets == (settings.notify_secret.get_secret_value(),)


def test_redis_password_goes_into_a_redis_url_without_one() -> None:
    settings = load_settings(redis_url="redis://redis:6379/0", redis_password="p@ss/word")
    assert settings.redis_url == "redis://:p%40ss%2Fword@redis:6379/0"
    kept = load_settings(redis_url="redis://:own@redis:6379/0", redis_password="other")
    assert kept.redis_url == "redis://:own@redis:6379/0"


def test_a_url_with_a_bad_port_is_refused_without_echoing_the_url() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(database_url="postgresql://u:hunter2@db:port/c")
    assert "DATABASE_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def _secret_laden() -> Settings:
    return load_settings(
        database_url="postgresql://campaign:pg-hunter2@db:5432/campaign",
        redis_url="redis://:redis-hunter2@redis:6379/0",
        notify_secret="notify-hunter2",
        notify_secret_previous="previous-hunter2",
        savg_client_secret="client-hunter2",
        savg_webhook_secret="webhook-hunter2",
        api_keys="key-hunter2:operator",
    )


def test_no_secret_or_url_password_reaches_a_repr() -> None:
    settings = _secret_laden()
    runtime = Runtime(settings)
    deps = DialDeps(
        settings=settings,
        sessions=None,  # type: ignore[arg-type]
        limiter=None,  # type: ignore[arg-type]
        breaker=None,  # type: ignore[arg-type]
        receipts=None,  # type: ignore[arg-type]
        gateway=None,  # type: ignore[arg-type]
        clock=time.time,  # type: ignore[arg-type]
        rng=random.Random(),
        sleep=time.sleep,
    )
    for text in (repr(settings), str(settings), repr(runtime), repr(deps)):
        assert "hunter2" not in text
        assert "postgresql://campaign:***@db:5432/campaign" in text
        assert "redis://:***@redis:6379/0" in text


CAMPAIGN = [sys.executable, "-m", "campaign"]
CELERY = str(Path(sys.executable).parent / "celery")


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`argv` with only `env` (and PATH), from `cwd` (no `.env` file to read there)."""
    env = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "argv",
    [
        [*CAMPAIGN, "api"],
        [*CAMPAIGN, "worker"],
        [*CAMPAIGN, "dispatcher"],
        [*CAMPAIGN, "simulator", "--port", "0"],
        [*CAMPAIGN, "status", "1"],
        [CELERY, "-A", "workers.app", "report"],
    ],
    ids=["api", "worker", "dispatcher", "simulator", "cli", "celery"],
)
def test_every_process_refuses_development_secrets_in_production(
    argv: list[str], tmp_path: Path
) -> None:
    env = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgresql://u@127.0.0.1:1/x",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    done = _run(argv, env, tmp_path)
    assert done.returncode != 0
    assert "NOTIFY_SECRET: a development or placeholder value" in done.stderr + done.stdout


def test_the_simulator_refuses_to_run_in_production(tmp_path: Path) -> None:
    done = _run([*CAMPAIGN, "simulator", "--port", "0"], PRODUCTION, tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: simulator: ENVIRONMENT=production refuses the SAVG simulator (it accepts any "
        "dial-out and fakes every outcome); run it only in development"
    ]
