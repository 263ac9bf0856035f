"""Notification intake (issue #8 §6): how fast the receiver stores, and how soon a decision follows.

The API process (uvicorn, as `campaign api` runs it) and 4 workers run against attempts already
`accepted`, each awaiting one final notification (a third busy, so the decision is a redial; the
rest completed by a person, so the contact is done). Intake: concurrent senders POST one final per
attempt as fast as the receiver answers; every 200 means the body is committed in the inbox.
The API's CPU per stored notification gives the rate one API process could take with a core of
its own (a process runs Python on one core at a time).

Latency: an open-loop sender POSTs at a steady 100/s while a poller watches PostgreSQL for each
attempt's decision (`ended_at`, written in the consumer's transaction with the contact's next due
time); latency is from just before the POST to the poll that first sees the decision, so it
includes the receiver, the broker hop and the consumer, with a resolution of the 2 ms poll.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
import psutil  # type: ignore[import-untyped]
import psycopg
from sqlalchemy import text

from bench.env import Stack, running_stack
from bench.figures import Report, figure
from bench.procstats import CpuProfile
from bench.runs import start_campaign, wait_logged
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.domain import tokens
from campaign.settings import Settings
from tests.factories import us_numbers

INTAKE_TARGET_PER_S = 1000.0
LATENCY_RATE_PER_S = 100.0
P99_TARGET_MS = 100.0
POLL_S = 0.002
WARM_UP_POSTS = 100

_ACCEPTED = text(
    """
    WITH c AS (
        UPDATE contacts SET state = 'in_flight', attempts = 1
        WHERE campaign_id = :campaign_id RETURNING id, phone
    )
    INSERT INTO attempts (campaign_id, run_id, contact_id, number, phone, state, queued_at,
                          claimed_at, sending_at, accepted_at, deadline_at, sid, call_id,
                          counted, dial_tries)
    SELECT :campaign_id, cm.current_run_id, c.id, 1, c.phone, 'accepted', now(), now(), now(),
           now(), now() + interval '1 hour', 'sid-' || c.id, 'call-' || c.id, true, 1
    FROM c, campaigns cm WHERE cm.id = :campaign_id
    RETURNING id
    """
)


@dataclass(frozen=True)
class NotifySizes:
    """Intake POSTs per run, seconds of paced posting per run, senders and workers."""

    intake_posts: int = 6000
    latency_seconds: float = 15.0
    runs: int = 3
    concurrency: int = 64
    workers: int = 4
    worker_concurrency: int = 8


FULL = NotifySizes()
QUICK = NotifySizes(intake_posts=1000, latency_seconds=5.0, runs=2)
TINY = NotifySizes(intake_posts=200, latency_seconds=1.0, runs=1, workers=1, worker_concurrency=4)


def final_body(attempt_id: int) -> bytes:
    """A final notification in the vendor's seed dialect: busy for every third attempt."""
    stamp = "3/4/2026,4:00:00PM"
    doc: dict[str, object] = {
        "conversationId": f"sid-{attempt_id}",
        "callconnecttime": stamp,
        "callDisconnectTime": stamp,
    }
    if attempt_id % 3 == 0:
        doc |= {
            "status": "failed",
            "reason": "486 Busy Here",
            "reasonCode": "Busy Here",
            "machinedetection": "detect",
        }
    else:
        doc |= {
            "status": "completed",
            "reason": "200 OK",
            "reasonCode": "caller-disconnected",
            "machinedetection": "amd_human_detected",
            "duration": 12,
        }
    return json.dumps(doc).encode()


class _Attempts:
    """Accepted attempts awaiting their final, made in batches from fresh phone numbers."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._next = 0

    def make(self, count: int) -> list[tuple[int, str, bytes]]:
        """(attempt id, POST path, body) for `count` new accepted attempts."""
        phones = us_numbers(count, start=self._next)
        self._next += count
        campaign_id = start_campaign(self._stack, phones, cps=10, max_live=count)
        with transaction(self._stack.runtime.sessions) as session:
            ids = list(session.scalars(_ACCEPTED, {"campaign_id": campaign_id}))
        secret = self._stack.settings.notify_secret.get_secret_value()
        expires_at = utcnow() + timedelta(hours=1)
        return [
            (i, f"/notify/{tokens.sign(i, secret, expires_at=expires_at)}", final_body(i))
            for i in ids
        ]


async def _post(client: httpx.AsyncClient, path: str, body: bytes) -> httpx.Response:
    """POST, sending again when the connection broke without an answer (uvicorn closing an idle
    keep-alive connection as we reuse it); the inbox deduplicates, so a resend stores nothing
    twice and answers `duplicate`."""
    resends = 0
    while True:
        try:
            response = await client.post(path, content=body)
            break
        except httpx.TransportError:
            resends += 1
            if resends == 3:
                raise
    if response.status_code != 200 or (response.json()["duplicate"] and not resends):
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
    return response


async def _intake(api_url: str, posts: list[tuple[int, str, bytes]], concurrency: int) -> float:
    """POST everything with `concurrency` senders; returns stored notifications per second."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    pending = iter(posts)
    stored = 0
    async with httpx.AsyncClient(base_url=api_url, limits=limits, timeout=30) as client:

        async def sender() -> None:
            nonlocal stored
            for _, path, body in pending:
                await _post(client, path, body)
                stored += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return stored / elapsed


class _DecisionPoller:
    """Sees each attempt's decision appear, polling PostgreSQL every POLL_S on its own thread."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self.sent: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.is_set():
                waiting = [i for i in list(self.sent) if i not in self.seen]
                at = time.time()
                if waiting:
                    rows = conn.execute(
                        "SELECT id FROM attempts WHERE id = ANY(%s) AND ended_at IS NOT NULL",
                        (waiting,),
                    ).fetchall()
                    for (attempt_id,) in rows:
                        self.seen[attempt_id] = at
                time.sleep(POLL_S)

    def __enter__(self) -> _DecisionPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait_all(self, timeout_s: float) -> None:
        """Wait until every sent notification's decision was seen."""
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < len(self.sent):
            if time.monotonic() > deadline:
                missing = len(self.sent) - len(self.seen)
                raise TimeoutError(f"{missing} notifications never led to a decision")
            time.sleep(0.05)


async def _paced(
    api_url: str, posts: list[tuple[int, str, bytes]], poller: _DecisionPoller
) -> None:
    """POST at LATENCY_RATE_PER_S on a fixed schedule (open loop: a slow answer delays nothing)."""
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        started = loop.time()
        tasks = []
        for n, (attempt_id, path, body) in enumerate(posts):
            await asyncio.sleep(max(0.0, started + n / LATENCY_RATE_PER_S - loop.time()))
            poller.sent[attempt_id] = time.time()
            tasks.append(asyncio.create_task(_post(client, path, body)))
        await asyncio.gather(*tasks)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _latencies_ms(stack: Stack, posts: list[tuple[int, str, bytes]]) -> list[float]:
    with _DecisionPoller(stack.settings.database_url or "") as poller:
        asyncio.run(_paced(stack.api_url, posts, poller))
        poller.wait_all(timeout_s=60)
    return [(poller.seen[i] - poller.sent[i]) * 1000 for i in poller.sent]


def run(settings: Settings, sizes: NotifySizes, report: Report) -> None:
    """Intake rate and decision latency figures, each the median of `sizes.runs` runs."""
    intake: list[float] = []
    p50: list[float] = []
    p99: list[float] = []
    api_ms: list[float] = []
    with running_stack(settings, {}) as stack:
        stack.start_api()
        stack.start_workers(sizes.workers, sizes.worker_concurrency)
        wait_logged(stack, [f"worker{i}" for i in range(1, sizes.workers + 1)], " ready.")
        attempts = _Attempts(stack)
        # Warm-up, not measured: connection pools, spec caches, the first Celery deliveries.
        asyncio.run(_intake(stack.api_url, attempts.make(WARM_UP_POSTS), sizes.concurrency))
        api = psutil.Process(stack.procs["api"].pid)
        for _ in range(sizes.runs):
            posts = attempts.make(sizes.intake_posts)
            cpu = CpuProfile({"api": lambda: [api]})
            cpu.start()
            intake.append(asyncio.run(_intake(stack.api_url, posts, sizes.concurrency)))
            cpu.stop()
            api_ms.append(1000 * cpu.used["api"] / len(posts))
            latencies = _latencies_ms(
                stack, attempts.make(round(LATENCY_RATE_PER_S * sizes.latency_seconds))
            )
            p50.append(_percentile(latencies, 0.50))
            p99.append(_percentile(latencies, 0.99))
    report.add(
        [
            figure(
                "notify_per_s", intake, "notifications/s", at_least=INTAKE_TARGET_PER_S, digits=1
            ),
            figure("notify_api_cpu_ms", api_ms, "CPU-ms/notification", digits=2),
            figure(
                "notify_ceiling_per_s_per_api_process",
                [1000 / ms for ms in api_ms],
                "notifications/s",
                at_least=INTAKE_TARGET_PER_S,
                digits=1,
            ),
            figure("notify_p50_ms", p50, "ms", digits=1),
            figure("notify_p99_ms", p99, "ms", at_most=P99_TARGET_MS, digits=1),
        ]
    )
