"""Live capacity figures (real PostgreSQL and Redis) and `campaign scale-advice` as a process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from prometheus_client import REGISTRY
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow
from campaign.domain.capacity import CampaignRate, Sizing, advise
from campaign.runtime import Runtime
from campaign.services.capacity import dial_latency, export_gauges, running_rates
from campaign.settings import Settings
from tests import factories

# `scale-advice` on a root app of its own, as `campaign` will mount it (advice.register).
ADVICE_CLI = [
    sys.executable,
    "-c",
    "import typer\n"
    "from campaign.cli import advice\n"
    "app = typer.Typer()\n"
    "app.callback()(lambda: None)\n"
    "advice.register(app)\n"
    "app()",
    "scale-advice",
]


def _attempts(session: Session, campaign_id: int, rows: list[dict[str, object]]) -> None:
    (contact_id,) = factories.add_contacts(
        session, campaign_id, factories.us_numbers(1, start=secrets.randbelow(10**6))
    )
    for number, row in enumerate(rows, start=1):
        session.add(
            AttemptRow(
                campaign_id=campaign_id,
                contact_id=contact_id,
                number=number,
                phone="+12015550100",
                queued_at=utcnow(),
                **row,
            )
        )
    session.flush()


def test_running_rates_are_the_running_campaigns_cps_and_trunks(db: Session) -> None:
    fast = factories.make_campaign(db, factories.spec(pacing={"cps": 40}))
    trunked = factories.make_campaign(
        db,
        factories.spec(
            pacing={"cps": 2.5}, gateway={**factories.BASE_SPEC["gateway"], "trunk": "carrier-b"}
        ),
    )
    paused = factories.make_campaign(db, factories.spec(pacing={"cps": 99}), state="paused")
    rates = {r.campaign_id: r for r in running_rates(db)}
    assert rates[fast] == CampaignRate(fast, 40, "default")
    assert rates[trunked] == CampaignRate(trunked, 2.5, "carrier-b")
    assert paused not in rates


def test_dial_latency_is_the_percentiles_of_dial_outs_accepted_in_the_window(db: Session) -> None:
    campaign_id = factories.make_campaign(db, factories.spec())
    # In the future, so dial-outs of other tests in this session fall outside the window.
    since = utcnow() + timedelta(days=1)
    _attempts(
        db,
        campaign_id,
        [
            *(
                {
                    "state": "completed",
                    "accepted_at": since + timedelta(seconds=i),
                    "dial_latency_ms": float(ms),
                }
                for i, ms in enumerate(range(10, 1010, 10))
            ),
            {
                "state": "completed",
                "accepted_at": since - timedelta(seconds=1),
                "dial_latency_ms": 99_000.0,
            },
            {"state": "error", "accepted_at": since, "dial_latency_ms": None},
        ],
    )
    latency = dial_latency(db, since)
    assert latency.samples == 100
    assert latency.p50_s == pytest.approx(0.505)
    assert latency.p95_s == pytest.approx(0.9505)
    assert dial_latency(db, since + timedelta(days=1)) == type(latency)(None, None, 0)


@pytest.fixture
def own_prefix(settings: Settings) -> Iterator[Settings]:
    """Settings with a queue prefix no other test uses, its Redis keys deleted afterwards."""
    mine = settings.model_copy(update={"queue_prefix": f"ops{secrets.token_hex(4)}"})
    yield mine
    client = redis.Redis.from_url(mine.redis_url or "")
    for key in client.scan_iter(f"{mine.queue_prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def paused_campaign_with_live_calls(
    session_factory: sessionmaker[Session],
) -> Iterator[int]:
    with transaction(session_factory) as session:
        campaign_id = factories.make_campaign(session, factories.spec(), state="paused")
        _attempts(
            session,
            campaign_id,
            [
                {"state": s, "deadline_at": utcnow() + timedelta(days=1)}
                for s in ("sending", "accepted", "answered", "completed", "queued")
            ],
        )
    yield campaign_id
    with transaction(session_factory) as session:
        session.execute(delete(CampaignRow).where(CampaignRow.id == campaign_id))


def test_dispatcher_gauges_show_queue_depth_and_live_calls_per_campaign(
    own_prefix: Settings, paused_campaign_with_live_calls: int
) -> None:
    runtime = Runtime(own_prefix, pool_size=1)
    try:
        runtime.redis.rpush(own_prefix.queue("dial"), *[b"{}"] * 7)
        runtime.redis.rpush(runtime.drains_key, 2, 5)  # two shares wait for a drain thread
        export_gauges(runtime)
        label = str(paused_campaign_with_live_calls)
        depths = [
            REGISTRY.get_sample_value("campaign_queue_depth", {"queue": name})
            for name in (own_prefix.queue("dial"), own_prefix.queue("notify"), runtime.drains_key)
        ]
        assert depths == [7, 0, 2]
        assert REGISTRY.get_sample_value("campaign_live_calls", {"campaign": label}) == 3

        with transaction(runtime.sessions) as session:
            session.execute(delete(CampaignRow).where(CampaignRow.id == int(label)))
        export_gauges(runtime)
        assert REGISTRY.get_sample_value("campaign_live_calls", {"campaign": label}) is None
    finally:
        runtime.close()


def _advice(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ADVICE_CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def advice_env(own_prefix: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": own_prefix.database_url or "",
        "REDIS_URL": own_prefix.redis_url or "",
        "QUEUE_PREFIX": own_prefix.queue_prefix,
        "PACING_MAX_WAIT_S": "0.5",
    }


def test_scale_advice_json_sizes_the_running_campaigns_from_live_figures(
    own_prefix: Settings, advice_env: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    client = redis.Redis.from_url(own_prefix.redis_url or "")
    client.rpush(own_prefix.queue("dial"), *[b"{}"] * 30)
    client.close()
    with transaction(session_factory) as session:
        campaign_id = factories.make_campaign(session, factories.spec(pacing={"cps": 40}))
    try:
        done = _advice(advice_env, "--json", "--latency-ms", "480", "--headroom", "1.25")
    finally:
        with transaction(session_factory) as session:
            session.execute(delete(CampaignRow).where(CampaignRow.id == campaign_id))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["queue"] == own_prefix.queue("dial")
    assert report["queue_depth"] == 30
    assert {"id": campaign_id, "cps": 40.0, "trunk": "default"} in report["campaigns"]
    assert report["latency"]["source"] == "given"
    # Whatever else this session left running, the figures are advise() of what was reported.
    expected = advise(
        [CampaignRate(c["id"], c["cps"], c["trunk"]) for c in report["campaigns"]],
        Sizing(latency_s=0.48, headroom=1.25, max_wait_s=0.5),
    )
    assert (report["concurrency"], report["workers"], report["per_worker"]) == (
        expected.concurrency,
        expected.workers,
        expected.per_worker,
    )
    assert report["concurrency"] >= 40 * 0.5
    assert report["keda"] == {
        "minReplicaCount": expected.workers,
        "listLength": expected.keda_list_length,
    }
    assert report["backlog_s"] == pytest.approx(30 / expected.dial_rate)
    assert f"campaign worker --concurrency {expected.per_worker}" in report["commands"][0]


def test_scale_advice_prints_commands_an_operator_can_paste(advice_env: dict[str, str]) -> None:
    done = _advice(advice_env, "--namespace", "calls")
    assert done.returncode == 0, done.stderr
    assert "Dial queue" in done.stdout
    assert "campaign worker --concurrency " in done.stdout
    assert "kubectl -n calls scale deployment/campaign-worker --replicas=" in done.stdout
    assert "minReplicaCount:" in done.stdout


def test_scale_advice_refuses_a_headroom_below_one(advice_env: dict[str, str]) -> None:
    done = _advice(advice_env, "--headroom", "0.5")
    assert done.returncode != 0
    assert "headroom must be at least 1" in done.stderr
