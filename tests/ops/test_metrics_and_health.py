"""Metrics and probes of real processes: /metrics on every METRICS_PORT (never on the API's own
port), /healthz, /readyz, `health worker`, and an access log that never writes a notify token."""

from __future__ import annotations

import os
import subprocess

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs; process queries only
import pytest

from tests.ops.conftest import Ops
from tests.support.procs import CAMPAIGN, wait_for, wait_http
from tests.support.services import free_port

pytestmark = pytest.mark.e2e

# Declared in campaign.metrics; deploy/grafana/dashboard.json queries them by these names.
WORKER_METRICS = ("campaign_dialouts_total", "campaign_notifications_total")
DISPATCHER_METRICS = ("campaign_dispatch_tick_seconds", "campaign_queue_depth")
API_METRICS = ("campaign_notifications_total", "campaign_dialout_latency_seconds")


def _metric_names(url: str) -> set[str]:
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    return {
        line.split()[2] for line in response.text.splitlines() if line.startswith("# TYPE ")
    } | {line.split("{")[0].split()[0] for line in response.text.splitlines() if line[:1] != "#"}


def test_worker_dispatcher_and_api_serve_the_engine_metrics(ops: Ops) -> None:
    worker_port, dispatcher_port, api_metrics_port = free_port(), free_port(), free_port()
    ops.worker("worker1", "--concurrency", "2", env={"METRICS_PORT": str(worker_port)})
    dispatcher = ops.run(
        "dispatcher", "dispatcher", "--sweep", "0.2", env={"METRICS_PORT": str(dispatcher_port)}
    )
    api_port = int(ops.api_url.rsplit(":", 1)[1])
    api = ops.run(
        "api", "api", "--port", str(api_port), env={"METRICS_PORT": str(api_metrics_port)}
    )
    wait_http(f"http://127.0.0.1:{dispatcher_port}/metrics", dispatcher)
    wait_http(f"{ops.api_url}/healthz", api)

    assert set(WORKER_METRICS) <= _metric_names(f"http://127.0.0.1:{worker_port}/metrics")
    assert set(API_METRICS) <= _metric_names(f"http://127.0.0.1:{api_metrics_port}/metrics")
    assert httpx.get(f"{ops.api_url}/metrics", timeout=5).status_code == 404
    dial_queue = f'campaign_queue_depth{{queue="{ops.settings.queue("dial")}"}}'

    def dispatcher_exports_queue_depth() -> bool:
        text = httpx.get(f"http://127.0.0.1:{dispatcher_port}/metrics", timeout=5).text
        return dial_queue in text

    wait_for(dispatcher_exports_queue_depth, 15, what="the dispatcher's queue-depth gauge")
    assert set(DISPATCHER_METRICS) <= _metric_names(f"http://127.0.0.1:{dispatcher_port}/metrics")


def test_readyz_is_503_while_redis_is_unreachable_and_healthz_stays_200(ops: Ops) -> None:
    closed = free_port()
    port = free_port()
    api = ops.run(
        "api-no-redis",
        "api",
        "--port",
        str(port),
        env={"REDIS_URL": f"redis://127.0.0.1:{closed}/0"},
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", api)
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["database"] == "ok"
    assert ready.json()["redis"].startswith("error")

    good_port = int(ops.api_url.rsplit(":", 1)[1])
    good = ops.run("api", "api", "--port", str(good_port))
    wait_http(f"{ops.api_url}/healthz", good)
    assert httpx.get(f"{ops.api_url}/readyz", timeout=10).json() == {
        "ready": True,
        "database": "ok",
        "redis": "ok",
    }


def _health_worker(ops: Ops) -> int:
    done = subprocess.run(
        [*CAMPAIGN, "health", "worker"],
        env={**os.environ, **ops.env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode


def test_health_worker_fails_without_a_worker_and_passes_with_one(ops: Ops) -> None:
    assert _health_worker(ops) == 1
    ops.worker("worker1", "--concurrency", "2")
    wait_for(ops.worker_alive, 15, what="the worker's heartbeat")
    assert _health_worker(ops) == 0


def test_the_api_access_log_masks_notify_tokens(ops: Ops) -> None:
    port = int(ops.api_url.rsplit(":", 1)[1])
    api = ops.run("api", "api", "--port", str(port), "--access-log")  # off by default: CPU
    wait_http(f"{ops.api_url}/healthz", api)
    token = "424242.4102444800.AbCdEfGhIjKlMnOpQrStUvWx"

    response = httpx.post(f"{ops.api_url}/notify/{token}", json={"status": "completed"}, timeout=5)

    assert response.status_code == 404
    masked = '"POST /notify/*** HTTP/1.1" 404'
    wait_for(lambda: masked in api.log_path.read_text(), 10, what="the access-log line")
    assert token not in api.log_path.read_text()


def test_the_api_runs_several_worker_processes_behind_one_port(ops: Ops) -> None:
    port, metrics_port = int(ops.api_url.rsplit(":", 1)[1]), free_port()
    api = ops.run(
        "api", "api", "--port", str(port), "--workers", "2", env={"METRICS_PORT": str(metrics_port)}
    )
    wait_http(f"{ops.api_url}/readyz", api)

    def two_workers() -> bool:
        return len(psutil.Process(api.pid).children(recursive=True)) >= 2

    wait_for(two_workers, 30, what="two uvicorn worker processes")
    assert all(httpx.get(f"{ops.api_url}/readyz", timeout=5).status_code == 200 for _ in range(6))
    # The port sums what every worker process counted (prometheus_client's multiprocess mode).
    assert httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).status_code == 200
