"""docker-compose.yml: the processes, their health gates and the operator contract's environment."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from campaign.errors import InvalidInput
from campaign.settings import Settings, load_settings
from tests.deploy.manifests import (
    COMPOSE_FILE,
    CONTRACT_ENV,
    LONGEST_TASK_S,
    ROOT,
    compose,
    interpolate,
    seconds,
    tool,
)

ENGINE = ("migrate", "api", "worker", "dispatcher", "simulator")
LONG_RUNNING = ("postgres", "pgbouncer", "redis", "api", "worker", "dispatcher", "simulator")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    loaded: dict[str, Any] = compose()["services"]
    return loaded


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_compose_runs_every_process_of_the_engine(services: dict[str, Any]) -> None:
    assert set(LONG_RUNNING) | set(ENGINE) <= set(services)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"


def test_engine_services_share_one_image_and_pick_the_process_by_command(
    services: dict[str, Any],
) -> None:
    images = {services[name]["image"] for name in ENGINE}
    assert len(images) == 1
    for name in ("api", "worker", "dispatcher", "simulator"):
        assert services[name]["command"][0] == name


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    checks = {name: services[name]["healthcheck"]["test"] for name in LONG_RUNNING}
    assert checks["postgres"][:2] == ["CMD", "pg_isready"]
    assert checks["pgbouncer"][:2] == ["CMD", "pg_isready"]
    assert "redis-cli ping" in checks["redis"][1]
    api_port = _flag(services["api"]["command"], "--port")
    assert f"127.0.0.1:{api_port}/healthz" in checks["api"][-1]
    assert checks["worker"] == ["CMD", "campaign", "health", "worker"]
    assert checks["dispatcher"] == ["CMD", "campaign", "health", "dispatcher"]
    sim_port = _flag(services["simulator"]["command"], "--port")
    assert f"('127.0.0.1', {sim_port})" in checks["simulator"][-1]


def test_dependencies_wait_for_health_or_a_finished_migration(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}'s health"
            elif condition == "service_completed_successfully":
                assert services[target]["restart"] == "no", f"{target} must be one-shot"
            else:
                assert condition == "service_started"
                assert name not in ENGINE, f"{name} must not start before {target} is ready"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["pgbouncer"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "worker", "dispatcher"):
        assert services[name]["depends_on"] == {
            "pgbouncer": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }


def test_worker_scales_with_no_fixed_name_or_host_port(services: dict[str, Any]) -> None:
    for name in ENGINE:
        assert "container_name" not in services[name], name
    assert "ports" not in services["worker"]
    assert "ports" not in services["dispatcher"]


def test_worker_stop_grace_outlasts_the_longest_task(services: dict[str, Any]) -> None:
    assert seconds(services["worker"]["stop_grace_period"]) > LONGEST_TASK_S


def test_engine_environment_is_the_operator_contract(services: dict[str, Any]) -> None:
    for name in ENGINE:
        assert set(services[name]["environment"]) == CONTRACT_ENV, name
    env = services["api"]["environment"]
    api_port = _flag(services["api"]["command"], "--port")
    sim_port = _flag(services["simulator"]["command"], "--port")
    assert interpolate(env["NOTIFY_BASE_URL"]) == f"http://api:{api_port}"
    assert interpolate(env["SAVG_BASE_URL"]) == f"http://simulator:{sim_port}"
    assert env["SAVG_WEBHOOK_SECRET"] is None, "optional: passed through only when set"


def test_contract_names_are_read_by_the_engine_settings() -> None:
    assert {name.upper() for name in Settings.model_fields} >= CONTRACT_ENV


def _engine_settings(services: dict[str, Any], shell: dict[str, str]) -> Settings:
    env = services["api"]["environment"]
    values = {k.lower(): interpolate(v, shell) for k, v in env.items() if v is not None}
    return load_settings(**values)


def test_compose_defaults_pass_the_engine_settings_validation(services: dict[str, Any]) -> None:
    settings = _engine_settings(services, {})
    assert not settings.production
    assert settings.queue("dial") == "campaign.dial"
    assert settings.redis_url == "redis://:dev-redis-password@redis:6379/0"


def test_compose_in_production_refuses_every_development_default(
    services: dict[str, Any],
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _engine_settings(services, {"ENVIRONMENT": "production"})
    for variable in (
        "REDIS_PASSWORD",
        "SAVG_CLIENT_SECRET",
        "NOTIFY_SECRET",
        "API_KEYS",
        "NOTIFY_BASE_URL",
        "SAVG_BASE_URL",
    ):
        assert f"{variable}:" in str(caught.value), variable


def test_redis_requires_the_password_the_engine_sends(services: dict[str, Any]) -> None:
    redis = services["redis"]
    password = interpolate(_flag(redis["command"], "--requirepass"))
    assert password == interpolate(services["api"]["environment"]["REDIS_PASSWORD"])
    assert interpolate(redis["environment"]["REDISCLI_AUTH"]) == password  # for the healthcheck


@pytest.mark.parametrize(("name", "port"), [("prometheus", 9090), ("grafana", 3000)])
def test_monitoring_ports_are_published_on_loopback_only(
    services: dict[str, Any], name: str, port: int
) -> None:
    (published,) = services[name]["ports"]
    assert interpolate(published) == f"127.0.0.1:{port}:{port}"


def test_grafana_has_no_anonymous_access_and_no_default_password(
    services: dict[str, Any],
) -> None:
    grafana = services["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-}"
    assert interpolate(env["GF_SECURITY_ADMIN_PASSWORD"]) == ""  # no default to fall back on
    guard = " ".join(grafana["entrypoint"])
    assert '[ -n "$$GF_SECURITY_ADMIN_PASSWORD" ]' in guard
    assert guard.endswith("exec /run.sh")


def test_redis_keeps_queued_tasks_across_restarts_and_memory_pressure(
    services: dict[str, Any],
) -> None:
    redis = services["redis"]
    command = redis["command"]
    assert _flag(command, "--appendonly") == "yes"
    assert _flag(command, "--maxmemory-policy") == "noeviction"
    assert _flag(command, "--maxmemory")
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_postgres_keeps_its_data_in_a_named_volume(services: dict[str, Any]) -> None:
    volumes = services["postgres"]["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in volumes
    assert "pgdata" in compose()["volumes"]


def test_monitoring_services_start_only_with_their_profile(services: dict[str, Any]) -> None:
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
    for name in set(services) - {"prometheus", "grafana"}:
        assert "profiles" not in services[name], name


def test_compose_file_passes_docker_compose_config() -> None:
    binary = tool("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
