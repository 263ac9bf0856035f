"""Lifecycle verbs against a concurrent dispatcher claim, on real PostgreSQL with two sessions."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, ContactRow
from campaign.services import campaigns, lifecycle, uploads
from tests.operator.conftest import NOW, csv_bytes, spec_doc


def test_cancel_waits_for_a_claim_in_progress_instead_of_deadlocking(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        cid = campaigns.create_campaign(session, spec_doc()).id
        uploads.import_contacts(session, cid, csv_bytes("phone\n+13125550101\n"), now=NOW)
        lifecycle.start(session, cid, now=NOW)
    outcome: dict[str, Any] = {}

    def cancel() -> None:
        try:
            with transaction(session_factory) as session:
                outcome["result"] = lifecycle.cancel(session, cid, now=NOW)
        except Exception as exc:  # reported to the test thread
            outcome["error"] = exc

    # A dispatcher's claim: lock the due contact, then insert its attempt (a foreign key to the
    # campaign, hence FOR KEY SHARE on the campaign row) while cancel already holds that row.
    with transaction(session_factory) as claim:
        contact = claim.scalars(
            select(ContactRow)
            .where(ContactRow.campaign_id == cid)
            .with_for_update(skip_locked=True)
        ).one()
        canceller = threading.Thread(target=cancel)
        canceller.start()
        canceller.join(1.5)  # cancel now holds the campaign and waits for the contact
        assert canceller.is_alive()
        contact.state = "in_flight"
        claim.add(
            AttemptRow(
                campaign_id=cid,
                contact_id=contact.id,
                number=1,
                phone=contact.phone,
                state="queued",
                queued_at=NOW,
            )
        )
        claim.flush()
    canceller.join(10)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].state == "cancelled"
    with session_factory() as session:
        assert session.get_one(ContactRow, contact.id).state == "cancelled"
