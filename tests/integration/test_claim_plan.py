"""The dispatcher's claim uses the partial due-time index, whatever the list size or progress,
and with priority levels it stays a walk of index ranges: one probe per level, never a read of
the contacts due later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from campaign.db.tables import ContactRow
from campaign.services.dispatching import due_contacts
from tests import factories


def _explain(db: Session, campaign_id: int, now: datetime, analyze: bool = False) -> Any:
    sql = due_contacts(campaign_id, now, 500).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    return db.execute(text(f"EXPLAIN ({options}) {sql}")).scalar_one()


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    if isinstance(plan, list):
        for item in plan:
            yield from _nodes(item)
    elif isinstance(plan, dict):
        if "Node Type" in plan:
            yield plan
        for value in plan.values():
            yield from _nodes(value)


def test_claim_is_an_index_range_scan_not_a_table_scan(db: Session) -> None:
    now = datetime.now(UTC)
    campaign_id = factories.make_campaign(db, factories.spec())
    other = factories.make_campaign(db, factories.spec())
    rows = [
        {
            "campaign_id": campaign_id if i % 4 else other,
            "phone": f"+1201{3000000 + i:07d}",
            "zones": ["America/New_York"],
            "metadata": {},
            "state": "pending" if i % 3 else "done",
            "next_due_at": now + timedelta(seconds=(i % 100) - 50),
        }
        for i in range(20000)
    ]
    db.execute(ContactRow.__table__.insert(), rows)
    db.execute(text("ANALYZE contacts"))

    plan = json.dumps(_explain(db, campaign_id, now))

    assert "ix_contacts_due" in plan
    assert "Seq Scan" not in plan


def test_claim_with_priorities_reads_only_due_entries_when_most_are_due_later(db: Session) -> None:
    """99 % of the contacts are due tomorrow, spread over three priority levels: the claim reads
    the due ones and one probe per level, not the 19,800 entries due later."""
    now = datetime.now(UTC)
    campaign_id = factories.make_campaign(db, factories.spec())
    rows = [
        {
            "campaign_id": campaign_id,
            "phone": f"+1201{4000000 + i:07d}",
            "zones": ["America/New_York"],
            "metadata": {},
            "state": "pending",
            "priority": (i % 3) * 5,
            "next_due_at": now - timedelta(seconds=i) if i % 100 == 0 else now + timedelta(days=1),
        }
        for i in range(20000)
    ]
    db.execute(ContactRow.__table__.insert(), rows)
    db.execute(text("ANALYZE contacts"))

    nodes = list(_nodes(_explain(db, campaign_id, now, analyze=True)))

    scans = [n for n in nodes if n["Node Type"] in ("Index Scan", "Index Only Scan")]
    assert scans
    assert all(n["Index Name"] == "ix_contacts_due" for n in scans)
    assert not [n for n in nodes if n["Node Type"] in ("Seq Scan", "Sort", "Bitmap Heap Scan")]
    read = sum(
        n["Actual Rows"] * n["Actual Loops"] + n.get("Rows Removed by Filter", 0) for n in scans
    )
    assert read <= 200 + 3 * 2 + 2  # the due contacts, and two probes per level (and the end)


def test_claim_takes_higher_priority_first_then_earlier_due(db: Session) -> None:
    now = datetime.now(UTC)
    campaign_id = factories.make_campaign(db, factories.spec())
    spec = [  # (priority, seconds before now); the last one is due only later
        (0, 300),
        (0, 10),
        (5, 20),
        (5, 200),
        (-3, 900),
        (9, 1),
        (9, -60),
    ]
    rows = [
        {
            "campaign_id": campaign_id,
            "phone": f"+1201{5000000 + i:07d}",
            "zones": ["America/New_York"],
            "metadata": {},
            "state": "pending",
            "priority": priority,
            "next_due_at": now - timedelta(seconds=ago),
        }
        for i, (priority, ago) in enumerate(spec)
    ]
    db.execute(ContactRow.__table__.insert(), rows)

    claimed = list(db.scalars(due_contacts(campaign_id, now, 4)))

    assert [(c.priority, round((now - c.next_due_at).total_seconds())) for c in claimed] == [
        (9, 1),
        (5, 200),
        (5, 20),
        (0, 300),
    ]
