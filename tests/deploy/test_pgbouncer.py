"""PgBouncer in both deployments: the engine goes through it, the migration does not, and psycopg's
prepared statements survive transaction pooling (psycopg docs, "Using prepared statements with
PgBouncer": PgBouncer 1.22+, max_prepared_statements above 0, libpq 17+ on the client)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from configparser import ConfigParser
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
import pytest

from campaign.production import url_password_problems
from tests.deploy.manifests import (
    BASE,
    PGBOUNCER,
    PGBOUNCER_INI,
    ROOT,
    Rendering,
    compose,
    endpoint,
    interpolate,
    libpq_params,
    pgbouncer_ini,
    render,
    settings_env,
)

OLDEST_PGBOUNCER = (1, 22)  # tracks prepared statements and DEALLOCATE ALL (psycopg's docs)
ENGINE_SERVICES = ("api", "worker", "dispatcher")
ENGINE_DEPLOYMENTS = ("campaign-api", "campaign-worker", "campaign-dispatcher")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    loaded: dict[str, Any] = compose()["services"]
    return loaded


@pytest.fixture(scope="module")
def base() -> Rendering:
    return render(BASE)


def _kubernetes_ini(base: Rendering) -> ConfigParser:
    return pgbouncer_ini(base.get("ConfigMap", PGBOUNCER)["data"]["pgbouncer.ini"])


def _server(ini: ConfigParser) -> tuple[str, int, str]:
    """(host, port, database) PgBouncer logs in to for the engine's one database, as the client's
    own user with its own password: the entry forces neither."""
    (alias,) = ini["databases"]
    params = libpq_params(ini["databases"][alias])
    assert not {"user", "password"} & set(params), "the entry must not force a login"
    return params["host"], int(params["port"]), params["dbname"]


def _pgbouncer_image(image: str) -> tuple[int, ...]:
    name, _, tag = image.rpartition(":")
    assert name == "ghcr.io/cloudnative-pg/pgbouncer", image
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"pin an exact PgBouncer version: {image}"
    return tuple(int(part) for part in tag.split("."))


def _userlist(text: str) -> tuple[str, str]:
    """(user, password) of a one-line PgBouncer auth_file: both in double quotes, `""` for `"`."""
    line = re.fullmatch(r'"((?:[^"]|"")*)" "((?:[^"]|"")*)"\n', text)
    assert line is not None, f"not an auth_file line: {text!r}"
    user, password = line.groups()
    return user.replace('""', '"'), password.replace('""', '"')


def _deployment_container(base: Rendering, name: str) -> dict[str, Any]:
    container: dict[str, Any] = base.get("Deployment", name)["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def test_both_deployments_pin_one_pgbouncer_that_tracks_prepared_statements(
    services: dict[str, Any], base: Rendering
) -> None:
    image = _deployment_container(base, PGBOUNCER)["image"]
    assert services["pgbouncer"]["image"] == image
    assert _pgbouncer_image(image) >= OLDEST_PGBOUNCER


def test_pgbouncer_pools_transactions_and_keeps_prepared_statements(base: Rendering) -> None:
    for ini in (pgbouncer_ini(PGBOUNCER_INI.read_text()), _kubernetes_ini(base)):
        settings = ini["pgbouncer"]
        assert settings["pool_mode"] == "transaction"
        assert int(settings["max_prepared_statements"]) > 0
        assert settings["auth_type"] == "scram-sha-256"


def test_the_engine_driver_closes_prepared_statements_by_protocol_message() -> None:
    # PgBouncer follows a protocol-level Close, not `DEALLOCATE name`; psycopg sends Close when its
    # libpq has PQsendClosePrepared (17+). The image installs the same psycopg-binary, whose wheel
    # bundles that libpq, from requirements/runtime.lock.
    assert psycopg.pq.version() >= 170000
    assert psycopg.capabilities.has_send_close_prepared()
    lock = (ROOT / "requirements" / "runtime.lock").read_text()
    pinned = re.search(r"^psycopg-binary==(\S+)", lock, re.MULTILINE)
    assert pinned is not None, "the image must install psycopg-binary (it bundles libpq 17+)"
    assert psycopg.pq.__impl__ == "binary"
    assert pinned[1] == version("psycopg-binary"), "test with the libpq the image gets"


def test_compose_and_kubernetes_configure_pgbouncer_alike(base: Rendering) -> None:
    compose_ini = pgbouncer_ini(PGBOUNCER_INI.read_text())
    kubernetes_ini = _kubernetes_ini(base)
    assert dict(compose_ini["pgbouncer"]) == dict(kubernetes_ini["pgbouncer"])
    assert list(compose_ini["databases"]) == list(kubernetes_ini["databases"])


def test_compose_engine_goes_through_pgbouncer_and_the_migration_does_not(
    services: dict[str, Any],
) -> None:
    ini = pgbouncer_ini(PGBOUNCER_INI.read_text())
    (alias,) = ini["databases"]
    postgres_env = services["postgres"]["environment"]
    for name in ENGINE_SERVICES:
        url = endpoint(interpolate(services[name]["environment"]["DATABASE_URL"]))
        assert url.address == ("pgbouncer", int(ini["pgbouncer"]["listen_port"]), alias), name
        assert url.user == postgres_env["POSTGRES_USER"]
        assert url.password == interpolate(postgres_env["POSTGRES_PASSWORD"])
    migrate = endpoint(interpolate(services["migrate"]["environment"]["DATABASE_URL"]))
    server = _server(ini)
    assert migrate.address == server
    host, _, database = server
    assert host == "postgres"  # the compose service
    assert database == postgres_env["POSTGRES_DB"]


def test_compose_pgbouncer_waits_for_postgres_and_stops_after_its_transactions(
    services: dict[str, Any],
) -> None:
    pgbouncer = services["pgbouncer"]
    assert pgbouncer["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    port = pgbouncer_ini(PGBOUNCER_INI.read_text())["pgbouncer"]["listen_port"]
    check = pgbouncer["healthcheck"]["test"]
    assert check[check.index("-p") + 1] == port
    # SIGTERM would wait for the engine's pools to disconnect, which they never do.
    assert pgbouncer["stop_signal"] == "SIGINT"


def test_compose_pgbouncer_writes_the_auth_file_it_reads_with_the_postgres_password(
    services: dict[str, Any], tmp_path: Path
) -> None:
    pgbouncer = services["pgbouncer"]
    ini_path = pgbouncer["command"][-1]
    assert f"./{PGBOUNCER_INI.relative_to(ROOT)}:{ini_path}:ro" in pgbouncer["volumes"]
    auth_file = pgbouncer_ini(PGBOUNCER_INI.read_text())["pgbouncer"]["auth_file"]
    shell, flag, script, name = pgbouncer["entrypoint"]
    assert auth_file in script
    postgres_env = services["postgres"]["environment"]
    assert pgbouncer["environment"]["POSTGRES_PASSWORD"] == postgres_env["POSTGRES_PASSWORD"]
    # The real script (compose turns `$$` into `$`) against a password the format must escape.
    written = tmp_path / "userlist.txt"
    script = script.replace("$$", "$").replace(auth_file, str(written))
    password = 'a "quoted" $password\\'
    env = {"PATH": os.environ["PATH"], "POSTGRES_PASSWORD": password}
    subprocess.run([shell, flag, script, name, "true"], env=env, check=True, timeout=10)
    assert _userlist(written.read_text()) == (postgres_env["POSTGRES_USER"], password)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_kubernetes_engine_goes_through_the_pgbouncer_service(base: Rendering) -> None:
    ini = _kubernetes_ini(base)
    (alias,) = ini["databases"]
    service = base.get("Service", PGBOUNCER)["spec"]
    (port,) = service["ports"]
    container = _deployment_container(base, PGBOUNCER)
    served = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert served[port["targetPort"]] == int(ini["pgbouncer"]["listen_port"])
    pods = base.get("Deployment", PGBOUNCER)["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pods.items()
    url = endpoint(settings_env(base)["DATABASE_URL"])
    assert url.address == (PGBOUNCER, port["port"], alias)
    for name in ENGINE_DEPLOYMENTS:
        engine = _deployment_container(base, name)
        assert "DATABASE_URL" not in {e["name"] for e in engine.get("env", [])}, name


def _direct_url(base: Rendering) -> str:
    url: str = base.get("Secret", "campaign-postgres")["stringData"]["DATABASE_URL"]
    return url


def test_kubernetes_migration_reaches_the_postgres_pgbouncer_logs_in_to(base: Rendering) -> None:
    job = base.get("Job", "campaign-migrate")["spec"]["template"]["spec"]["containers"][0]
    (override,) = [e for e in job["env"] if e["name"] == "DATABASE_URL"]
    assert override["valueFrom"]["secretKeyRef"] == {
        "name": "campaign-postgres",
        "key": "DATABASE_URL",
    }
    direct = endpoint(_direct_url(base))
    assert direct.address == _server(_kubernetes_ini(base))
    assert direct.user == endpoint(settings_env(base)["DATABASE_URL"]).user
    # A forgotten placeholder stops the migration at start, like every other process.
    assert list(url_password_problems("DATABASE_URL", _direct_url(base)))


def test_kubernetes_pgbouncer_reads_its_files_from_one_volume(base: Rendering) -> None:
    spec = base.get("Deployment", PGBOUNCER)["spec"]["template"]["spec"]
    container = spec["containers"][0]
    ini_path = PurePosixPath(container["command"][-1])
    auth_file = PurePosixPath(_kubernetes_ini(base)["pgbouncer"]["auth_file"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(ini_path.parent)]
    assert auth_file.parent == ini_path.parent
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    files = {
        item["path"]: (kind, source[kind]["name"], item["key"])
        for source in volume["projected"]["sources"]
        for kind in source
        for item in source[kind]["items"]
    }
    assert files == {
        ini_path.name: ("configMap", PGBOUNCER, "pgbouncer.ini"),
        auth_file.name: ("secret", "campaign-postgres", "userlist.txt"),
    }
    userlist = base.get("Secret", "campaign-postgres")["stringData"]["userlist.txt"]
    assert _userlist(userlist) == (endpoint(_direct_url(base)).user, "REPLACE_ME")


def test_kubernetes_pgbouncer_runs_as_pid_1_and_stops_after_its_transactions(
    base: Rendering,
) -> None:
    container = _deployment_container(base, PGBOUNCER)
    assert container["command"][0] == "pgbouncer"  # no shell in between to swallow signals
    assert "kill -INT 1" in container["lifecycle"]["preStop"]["exec"]["command"][-1]


def test_only_engine_pods_reach_pgbouncer(base: Rendering) -> None:
    policy = base.get("NetworkPolicy", PGBOUNCER)["spec"]
    pods = base.get("Deployment", PGBOUNCER)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pods.items()
    (rule,) = policy["ingress"]
    listen_port = int(_kubernetes_ini(base)["pgbouncer"]["listen_port"])
    assert rule["ports"] == [{"protocol": "TCP", "port": listen_port}]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "campaign"}}}
    ]
