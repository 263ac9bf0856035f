"""Real processes for operations tests: each test starts only what it needs, on its own prefix.

A queue prefix per test keeps Celery queues and heartbeats apart (a worker another test left
beating would make `campaign health worker` pass); every process is stopped by its pid.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow
from campaign.heartbeat import alive
from campaign.runtime import Runtime
from campaign.services.dispatching import claim_due_contacts
from campaign.services.specs import load_spec
from campaign.settings import Settings
from campaign.simulator.control import SimControl
from tests import factories
from tests.e2e.conftest import Stack, stack_env
from tests.support.procs import CAMPAIGN, Proc, wait_for, wait_http
from tests.support.services import free_port


class Ops(Stack):
    """A Stack whose processes can each get extra environment (METRICS_PORT, say)."""

    def run(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, [*CAMPAIGN, *args], {**self.env, **(env or {})}, self.log_dir)
        self.procs[name] = proc
        return proc

    def simulator(self) -> Proc:
        port = self.sim_url.rsplit(":", 1)[1]
        proc = self.run("simulator", "simulator", "--port", port)
        wait_http(f"{self.sim_url}/_sim/stats", proc)
        return proc

    def worker(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        proc = self.run(name, "worker", "-n", f"{name}@%h", *args, env=env)
        wait_for(lambda: self.ready(proc), 60, what=f"{name} to be ready")
        return proc

    def ready(self, proc: Proc) -> bool:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        return " ready." in proc.log_path.read_text(errors="replace")

    def node(self, name: str) -> str:
        return f"{name}@{socket.gethostname()}"

    def worker_alive(self) -> bool:
        return alive(self.runtime.redis, self.settings.queue_prefix, "worker")

    def dispatcher_alive(self) -> bool:
        return alive(self.runtime.redis, self.settings.queue_prefix, "dispatcher")

    def dispatch(self, phones: list[str], now: datetime | None = None, **spec: object) -> int:
        """A running campaign with these contacts, all claimed and sent to the workers; its id.

        Claims only this campaign (not a whole tick): the session database may hold other tests'
        running campaigns, whose calls must not land on this test's simulator.
        """
        with transaction(self.runtime.sessions) as session:
            campaign_id = factories.make_campaign(session, factories.spec(**spec))
            factories.add_contacts(session, campaign_id, phones)
        with transaction(self.runtime.sessions) as session:
            claimed = claim_due_contacts(
                session,
                campaign_id=campaign_id,
                run_id=None,
                spec=load_spec(session.get_one(CampaignRow, campaign_id).spec),
                now=now or utcnow(),
                limit=len(phones),
            )
        self.runtime.enqueue_dials(claimed.attempt_ids)
        return campaign_id

    def attempts(self, campaign_id: int) -> list[AttemptRow]:
        with self.runtime.sessions() as session:
            return list(
                session.scalars(
                    select(AttemptRow)
                    .where(AttemptRow.campaign_id == campaign_id)
                    .order_by(AttemptRow.id)
                )
            )


@pytest.fixture
def ops(settings: Settings, tmp_path: Path) -> Iterator[Ops]:
    """Nothing started yet; stops every process a test started and deletes its Redis keys."""
    mine = settings.model_copy(update={"queue_prefix": f"ops{secrets.token_hex(4)}"})
    sim_port, api_port = free_port(), free_port()
    runtime = Runtime(mine, pool_size=2)
    stack = Ops(
        settings=mine,
        runtime=runtime,
        sim=SimControl(f"http://127.0.0.1:{sim_port}"),
        sim_url=f"http://127.0.0.1:{sim_port}",
        api_url=f"http://127.0.0.1:{api_port}",
        env={**stack_env(mine, sim_port, api_port), "METRICS_HOST": "127.0.0.1"},
        log_dir=tmp_path,
    )
    # A fresh prefix has no live call to restore: mark the limiter ready, as a sweep would.
    runtime.limiter.restore([], [], 0)
    try:
        yield stack
    finally:
        for proc in stack.procs.values():
            proc.stop()
        stack.sim.close()
        for key in runtime.redis.scan_iter(f"{mine.queue_prefix}*"):
            runtime.redis.delete(key)
        runtime.close()
