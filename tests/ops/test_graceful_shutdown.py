"""SIGTERM to each real process: the work in hand finishes, nothing is lost or redone, exit 0."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import httpx
import pytest

from tests import factories
from tests.ops.conftest import Ops
from tests.support.procs import wait_for, wait_http
from tests.support.services import free_port

pytestmark = pytest.mark.e2e

SLOW_ANSWER_MS = 3000


def _exit_code(ops: Ops, name: str, timeout_s: float) -> int:
    try:
        return ops.procs[name].popen.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} still running {timeout_s} s after SIGTERM\n{ops.logs()}")


def test_sigterm_lets_the_dial_in_flight_finish_then_the_worker_exits_0(ops: Ops) -> None:
    ops.simulator()
    ops.sim.configure(faults={"slow_answer": {"rate": 1, "delay_ms": SLOW_ANSWER_MS}})
    # The stack's 2 s read timeout would end the POST early; give the gateway time to answer.
    worker = ops.worker("worker1", "--concurrency", "2", env={"SAVG_READ_TIMEOUT_S": "10"})
    campaign_id = ops.dispatch(factories.us_numbers(1, start=7100))
    wait_for(lambda: len(ops.sim.calls()) == 1, 20, what="the dial-out to reach the gateway")
    (attempt,) = ops.attempts(campaign_id)
    assert attempt.state == "sending"  # the POST is in flight: the gateway holds its answer

    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert _exit_code(ops, "worker1", 30) == 0
    waited = time.monotonic() - signalled

    (attempt,) = ops.attempts(campaign_id)
    assert (attempt.state, attempt.dial_tries) == ("accepted", 1), ops.logs()
    assert attempt.sid == ops.sim.calls()[0]["sid"]
    assert waited > 0.5  # it waited for the gateway's answer instead of dropping the task
    # The task was acknowledged: a new worker finds nothing to redo.
    ops.worker("worker2", "--concurrency", "2")
    time.sleep(2)
    assert len(ops.sim.calls()) == 1
    assert ops.attempts(campaign_id)[0].state == "accepted"


def test_sigterm_ends_the_dispatcher_promptly_with_code_0(ops: Ops) -> None:
    port = free_port()
    dispatcher = ops.run("dispatcher", "dispatcher", env={"METRICS_PORT": str(port)})
    wait_http(f"http://127.0.0.1:{port}/metrics", dispatcher)
    wait_for(ops.dispatcher_alive, 10, what="a dispatcher heartbeat")
    signalled = time.monotonic()
    dispatcher.signal(signal.SIGTERM)
    assert _exit_code(ops, "dispatcher", 10) == 0
    assert time.monotonic() - signalled < 3


def _send_headers(port: int, path: str, length: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_sigterm_lets_the_api_answer_the_request_in_flight_then_exit_0(ops: Ops) -> None:
    port = int(ops.api_url.rsplit(":", 1)[1])
    api = ops.run("api", "api", "--port", str(port))
    wait_http(f"{ops.api_url}/healthz", api)
    campaign_id = ops.dispatch(factories.us_numbers(1, start=7200))
    (attempt,) = ops.attempts(campaign_id)
    path = factories.notify_path(ops.settings, attempt.id)
    body = json.dumps({"conversationId": "c-1", "status": "answered"}).encode()

    sock = _send_headers(port, path, len(body))
    sock.sendall(body[:10])
    time.sleep(0.3)  # the server has the request; its body is still arriving
    api.signal(signal.SIGTERM)
    wait_for(lambda: _refused(port), 10, poll_s=0.05, what="the API to stop accepting")
    sock.sendall(body[10:])
    status, answer = _read_response(sock)
    sock.close()

    assert status == 200, ops.logs()
    assert json.loads(answer)["duplicate"] is False
    assert _exit_code(ops, "api", 25) == 0


def _refused(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
    except httpx.ConnectError:
        return True
    return False
