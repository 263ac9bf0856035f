"""Settings read the operator contract's environment names and fail naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from campaign.errors import InvalidInput
from campaign.settings import load_settings


def test_contract_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "DATABASE_URL": "postgres://u@db:5432/c",
        "REDIS_URL": "redis://r:6379/2",
        "SAVG_BASE_URL": "https://savg.example/",
        "SAVG_CLIENT_ID": "cid",
        "SAVG_CLIENT_SECRET": "secret",
        "SAVG_JWT_ALGORITHM": "HS512",
        "NOTIFY_BASE_URL": "https://us.example",
        "NOTIFY_SECRET": "n",
        "SAVG_WEBHOOK_SECRET": "w",
        "API_KEYS": "k1:operator, k2:read",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    s = load_settings()

    assert s.sqlalchemy_url == "postgresql+psycopg://u@db:5432/c"
    assert (s.redis_url, s.savg_base_url, s.savg_jwt_algorithm) == (
        "redis://r:6379/2",
        "https://savg.example",
        "HS512",
    )
    assert s.api_key_scopes == {"k1": "operator", "k2": "read"}
    assert s.savg_webhook_secret is not None
    assert s.savg_webhook_secret.get_secret_value() == "w"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("REDIS_URL", "http://x", "REDIS_URL"),
        ("SAVG_JWT_ALGORITHM", "RS256", "SAVG_JWT_ALGORITHM"),
        ("API_KEYS", "k1:admin", "API_KEYS"),
        ("NOTIFY_BASE_URL", "ftp://x", "NOTIFY_BASE_URL"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match=message):
        load_settings()


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(InvalidInput, match="NOTIFY_SECRET"):
        load_settings(environment="production")


def test_a_process_with_a_bad_variable_exits_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "campaign", "dispatcher"],
        env={"PATH": "", "DATABASE_URL": "mysql://x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: DATABASE_URL: Value error, must be a postgresql:// URL"
    ]
