"""The dispatcher's claim uses the partial due-time index, whatever the list size or progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from campaign.db.tables import ContactRow
from campaign.services.dispatching import due_contacts
from tests import factories


def _plan(db: Session, campaign_id: int, now: datetime) -> str:
    sql = due_contacts(campaign_id, now, 500).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    rows = db.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
    return json.dumps(rows)


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

    plan = _plan(db, campaign_id, now)

    assert "ix_contacts_due" in plan
    assert "Seq Scan" not in plan
