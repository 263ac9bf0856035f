"""A running simulator process, a real notification receiver, and JWT/dial helpers for its tests.

The simulator runs as `python -m campaign.simulator --port 0` (its real entry point) in its own
process, so the tests see it exactly as the engine and the benchmarks do, over real HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import jwt

from campaign.simulator.control import SimControl
from campaign.simulator.server import ANNOUNCE
from tests.support.http_server import Received, Reply

CLIENT_ID = "sim-test-app"
# 64 bytes: long enough for HS512, so pyjwt never warns about the key length.
SECRET = "s" * 32 + "-simulator-test-client-secret-01"
WEBHOOK_SECRET = "simulator-webhook-secret"
BOT = "st-e38782ff-0d89-52e9-5678769a49fd"
REPO_ROOT = Path(__file__).resolve().parents[2]

# Every test starts from this: fast, deterministic, the seed's payload shapes.
BASE_CONFIG: dict[str, Any] = {
    "time_scale": 0.001,
    "seed": 20231108,
    "dialect": "seed",
    "conversation_id": "call_id",
}


def start_simulator(
    log: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m campaign.simulator` on a free port with extra `args` and `env`; return
    the process and its base URL."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_CONFIG")}
    full_env.update(
        SAVG_CLIENT_ID=CLIENT_ID, SAVG_CLIENT_SECRET=SECRET, SAVG_WEBHOOK_SECRET=WEBHOOK_SECRET
    )
    full_env.update(env or {})
    command = ["-m", "campaign.simulator", "--host", "127.0.0.1", "--port", "0", *args]
    return start_process(log, command, ANNOUNCE, full_env)


def start_process(
    log: Path, command: list[str], announce: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Run `python COMMAND…` and wait for its `announce` line; return it and the URL announced."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,  # so `python -m tests…` and `-m campaign…` import from this checkout
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(announce):
                return proc, line.removeprefix(announce).strip()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{command} did not start:\n{log.read_text(errors='replace')}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a process this test session started, and reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def same_bodies(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """The same JSON bodies, in any order."""
    return sorted(json.dumps(x, sort_keys=True) for x in a) == sorted(
        json.dumps(x, sort_keys=True) for x in b
    )


@dataclass
class Receiver:
    """The engine's side of notifications: records every POST, answers `status`."""

    status: int = 200
    received: list[tuple[float, Received]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Received) -> Reply:
        with self._lock:
            self.received.append((time.time(), request))
        return Reply(self.status)

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies in arrival order, optionally only those posted to `path`."""
        with self._lock:
            items = [r for _, r in self.received if path is None or r.path == path]
        return [cast(dict[str, Any], r.json()) for r in items]

    def requests(self, path: str) -> list[Received]:
        """Requests posted to `path`, in arrival order."""
        with self._lock:
            return [r for _, r in self.received if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
        self.status = 200


@dataclass
class Sim:
    """Per-test handle: control client, raw HTTP client, receiver."""

    url: str
    control: SimControl
    http: httpx.Client
    receiver: Receiver
    receiver_url: str

    def token(self, secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
        """A JWT as the vendor's guide describes; `claims` override or add (None removes)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": "campaign-engine",
            "appId": CLIENT_ID,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 60,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, secret, algorithm=algorithm)

    def body(
        self, target: str = "tel:+15550100", path: str = "/notify", **extra: Any
    ) -> dict[str, Any]:
        """A valid dial-out body that notifies the receiver at `path`."""
        return {
            "bot": BOT,
            "target": target,
            "caller": "+12706165788",
            "notifyurl": f"{self.receiver_url}{path}",
            "machineDetection": "detect",
            **extra,
        }

    def dial(
        self,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        no_auth: bool = False,
        timeout_s: float = 5.0,
        bot: str = BOT,
    ) -> httpx.Response:
        """POST a dial-out with `token` (default: a freshly minted valid JWT), or no `auth`."""
        headers = {"Format": "application/json"}
        if not no_auth:
            headers["auth"] = token or self.token()
        return self.http.post(
            self.control.dialout_url(bot),
            json=self.body() if body is None else body,
            headers=headers,
            timeout=timeout_s,
        )

    def configure(self, **patch: Any) -> None:
        self.control.configure(**patch)

    def settle(self) -> dict[str, Any]:
        """Wait until every call ended and every notification was delivered; return the stats."""
        return self.control.wait_quiet(timeout_s=10)

    def only_call(self) -> dict[str, Any]:
        calls = self.control.calls()
        assert len(calls) == 1, calls
        return calls[0]
