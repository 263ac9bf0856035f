"""Priority under concurrent dispatchers: higher priority is claimed first, even with two
replicas claiming at once (`FOR UPDATE SKIP LOCKED` hands each contact to one of them)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select

from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.services.dispatching import claim_due_contacts
from campaign.services.specs import load_spec
from campaign.settings import Settings
from tests import factories
from tests.support.runtime import RecordingRuntime

LEVELS = (9, 5, 0, -1)
PER_LEVEL = 40
BATCH = 10


@pytest.fixture
def runtime(settings: Settings) -> Iterator[RecordingRuntime]:
    rt = RecordingRuntime(settings, pool_size=4)
    yield rt
    with transaction(rt.sessions) as session:
        session.execute(delete(CampaignRow))
    rt.close()


@dataclass(frozen=True)
class Claim:
    """One replica's claim: when it started and committed, and the priorities it took."""

    started: float
    committed: float
    priorities: list[int]


def _campaign(rt: RecordingRuntime, now: datetime) -> int:
    rng = random.Random(15)
    phones = factories.us_numbers(len(LEVELS) * PER_LEVEL, start=3000)
    rows = [
        {
            "campaign_id": 0,
            "phone": phone,
            "zones": ["America/New_York"],
            "metadata_": {},
            "state": "pending",
            "priority": LEVELS[i % len(LEVELS)],
            # Due times shuffled across levels, so due order alone would interleave the levels.
            "next_due_at": now - timedelta(seconds=rng.randrange(3600)),
        }
        for i, phone in enumerate(phones)
    ]
    with transaction(rt.sessions) as session:
        campaign_id = factories.make_campaign(session, factories.spec())
        session.execute(insert(ContactRow), [{**r, "campaign_id": campaign_id} for r in rows])
    return campaign_id


def test_two_concurrent_dispatchers_claim_higher_priority_first(runtime: RecordingRuntime) -> None:
    now = datetime.now(UTC)
    campaign_id = _campaign(runtime, now)
    with runtime.sessions() as session:
        spec = load_spec(session.get_one(CampaignRow, campaign_id).spec)
    claims: list[Claim] = []
    barrier = threading.Barrier(2)

    def replica() -> None:
        barrier.wait()
        while True:
            started = time.monotonic()
            with transaction(runtime.sessions) as session:
                result = claim_due_contacts(
                    session, campaign_id=campaign_id, run_id=None, spec=spec, now=now, limit=BATCH
                )
                priorities = list(
                    session.scalars(
                        select(ContactRow.priority)
                        .join(AttemptRow, AttemptRow.contact_id == ContactRow.id)
                        .where(AttemptRow.id.in_(result.attempt_ids))
                        .order_by(AttemptRow.id)
                    )
                )
                time.sleep(0.005)  # hold the locks a moment: the other replica must skip them
            if not priorities:
                return
            claims.append(Claim(started, time.monotonic(), priorities))

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(len(c.priorities) for c in claims) == len(LEVELS) * PER_LEVEL
    for claim in claims:  # each claim in order: higher first
        assert claim.priorities == sorted(claim.priorities, reverse=True)
    # A claim that started after another committed never takes a higher priority than it took.
    for first in claims:
        for later in claims:
            if later.started > first.committed:
                assert max(later.priorities) <= min(first.priorities), (first, later)
    # Both replicas really claimed at once, and the first claims took only the top level.
    assert len({c.started for c in claims if c.started < claims[0].committed}) >= 2
    assert all(p == LEVELS[0] for c in claims[:2] for p in c.priorities)
