"""The connection budget (docs/production.md), from the engine's real pool sizes.

Every engine process holds at most its pool plus overflow (`make_engine`). PgBouncer must take all
of them at once, each PgBouncer process alone (on Kubernetes the other replica may be restarting),
and PostgreSQL must take every PgBouncer's server pool plus the migration.
"""

from __future__ import annotations

import inspect
import re
from configparser import SectionProxy
from dataclasses import fields
from typing import Any

import pytest
from sqlalchemy.pool import QueuePool

from campaign.cli import processes
from campaign.db.engine import make_engine
from campaign.runtime import Runtime
from campaign.settings import load_settings
from tests.deploy.manifests import (
    BASE,
    OVERLAYS,
    PGBOUNCER,
    PGBOUNCER_INI,
    ROOT,
    Rendering,
    compose,
    pgbouncer_ini,
    render,
)
from workers import drainers
from workers.runtime import pool_size_for

POSTGRES_MAX_CONNECTIONS = 100  # PostgreSQL's default; neither deployment changes it
SUPERUSER_RESERVED = 3  # superuser_reserved_connections' default: never the engine's
MIGRATION = 1  # Alembic migrates on a NullPool engine (campaign/db/migrations/env.py)
DISPATCHER_POOL_SIZE = 4  # campaign/cli/processes.py: the dispatcher's Runtime(pool_size=4)
PRODUCTION_DOC = ROOT / "docs" / "production.md"


def _connections(pool_size: int) -> int:
    """The most connections one engine process opens: its pool plus overflow."""
    settings = load_settings(database_url="postgresql://u@h/db", environment="development")
    engine = make_engine(settings, pool_size=pool_size)
    try:
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        return pool.size() + pool._max_overflow
    finally:
        engine.dispose()


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def process_connections(args: list[str]) -> int:
    """Connections of one container running `campaign <args>`, all its pools full."""
    if args[0] == "worker":
        autoscale = _flag(args, "--autoscale")
        concurrency = _flag(args, "--concurrency")
        assert autoscale or concurrency, "a worker without a thread count sizes to the host's CPUs"
        threads = int(autoscale.split(",")[0]) if autoscale else int(str(concurrency))
        # A worker of the notify queue (every shipped one) drains on threads of its own too.
        return _connections(pool_size_for(threads + drainers.THREADS))
    if args[0] == "api":
        default = inspect.signature(processes.api).parameters["workers"].default
        api_pool = next(f.default for f in fields(Runtime) if f.name == "pool_size")
        assert isinstance(api_pool, int)
        # The engine's pool and overflow, and the receiver's own connections (Runtime.intake).
        per_process = _connections(api_pool) + api_pool
        return int(_flag(args, "--workers") or default) * per_process
    assert args[0] == "dispatcher", args
    return _connections(DISPATCHER_POOL_SIZE)


def server_connections(settings: SectionProxy) -> int:
    """What one PgBouncer process opens to PostgreSQL at most: its pool and the reserve."""
    return int(settings["default_pool_size"]) + int(settings["reserve_pool_size"])


def _compose_clients() -> tuple[int, int]:
    """(clients at compose's default scale, clients one more worker adds)."""
    services = compose()["services"]
    clients = sum(
        process_connections(services[n]["command"]) for n in ("api", "worker", "dispatcher")
    )
    return clients, process_connections(services["worker"]["command"])


def _max_workers(rendering: Rendering) -> int:
    """The worker replicas an overlay's autoscaler may reach (the base's fixed count otherwise)."""
    for obj in rendering.objects:
        if obj["kind"] == "ScaledObject":
            return int(obj["spec"]["maxReplicaCount"])
        if obj["kind"] == "HorizontalPodAutoscaler":
            return int(obj["spec"]["maxReplicas"])
    return int(rendering.get("Deployment", "campaign-worker")["spec"].get("replicas", 1))


def kubernetes_clients(rendering: Rendering) -> int:
    """Client connections of every engine pod, the workers at their autoscaler's maximum."""
    total = 0
    for name in ("campaign-api", "campaign-worker", "campaign-dispatcher"):
        deployment: dict[str, Any] = rendering.get("Deployment", name)
        replicas = (
            _max_workers(rendering) if name == "campaign-worker" else deployment["spec"]["replicas"]
        )
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        total += replicas * process_connections(args)
    return total


def test_a_worker_opens_one_connection_per_thread_and_drain_thread() -> None:
    for threads in (1, 2, 15, 16):
        connections = process_connections(["worker", "--concurrency", str(threads)])
        assert threads + drainers.THREADS <= connections <= threads + drainers.THREADS + 1
    assert process_connections(["worker", "--autoscale", "32,4"]) == 32 + drainers.THREADS


def test_pgbouncer_takes_every_compose_client_and_postgres_every_server_connection() -> None:
    settings = pgbouncer_ini(PGBOUNCER_INI.read_text())["pgbouncer"]
    clients, _ = _compose_clients()
    assert clients <= int(settings["max_client_conn"])
    used = server_connections(settings) + MIGRATION + SUPERUSER_RESERVED
    assert used <= POSTGRES_MAX_CONNECTIONS


@pytest.mark.parametrize("name", ["base", "keda", "hpa", "simulator"])
def test_each_pgbouncer_alone_takes_every_client_at_the_autoscalers_maximum(name: str) -> None:
    rendering = render(BASE if name == "base" else OVERLAYS[name])
    ini = rendering.get("ConfigMap", PGBOUNCER)["data"]["pgbouncer.ini"]
    assert kubernetes_clients(rendering) <= int(pgbouncer_ini(ini)["pgbouncer"]["max_client_conn"])


def _pgbouncer_pods_mid_rollout(base: Rendering) -> int:
    spec = base.get("Deployment", PGBOUNCER)["spec"]
    surge = spec["strategy"]["rollingUpdate"]["maxSurge"]
    assert isinstance(surge, int), "count the surge pods: a percentage hides them"
    return int(spec["replicas"]) + surge


def test_postgres_takes_every_pgbouncer_pool_even_mid_rollout() -> None:
    base = render(BASE)
    settings = pgbouncer_ini(base.get("ConfigMap", PGBOUNCER)["data"]["pgbouncer.ini"])["pgbouncer"]
    # The pod being replaced keeps its server connections until it exits.
    used = _pgbouncer_pods_mid_rollout(base) * server_connections(settings)
    assert used + MIGRATION + SUPERUSER_RESERVED <= POSTGRES_MAX_CONNECTIONS


def _budget_section() -> str:
    text = PRODUCTION_DOC.read_text()
    section = re.search(r"^## Connection budget\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section is not None, "docs/production.md has no 'Connection budget' section"
    return section[1]


def test_the_documented_worked_examples_are_the_shipped_figures() -> None:
    doc = " ".join(_budget_section().split())
    settings = pgbouncer_ini(PGBOUNCER_INI.read_text())["pgbouncer"]
    clients, per_worker = _compose_clients()
    most_workers = 1 + (int(settings["max_client_conn"]) - clients) // per_worker
    server = server_connections(settings)
    base = render(BASE)
    keda = render(OVERLAYS["keda"])
    figures = {
        "compose clients": f"{clients} clients",
        "compose PostgreSQL": f"{server + MIGRATION + SUPERUSER_RESERVED} of its",
        "workers PgBouncer takes": f"up to {most_workers} workers",
        "keda clients": f"= {kubernetes_clients(keda)} clients",
        "rollout": f"{_pgbouncer_pods_mid_rollout(base)} PgBouncer pods",
        "client limit": f"max_client_conn ({settings['max_client_conn']}",
        "server pool": f"{settings['default_pool_size']} + {settings['reserve_pool_size']}",
    }
    for what, figure in figures.items():
        assert figure in doc, (
            f"docs/production.md, Connection budget: {what} should read {figure!r}"
        )
