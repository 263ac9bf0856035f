"""Creating and editing campaigns from specs, against real PostgreSQL (rolled back per test)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import CampaignRow
from campaign.errors import Conflict, NotFound, SpecInvalid
from campaign.services import campaigns, lifecycle
from tests.operator.conftest import NOW, spec_doc


def test_create_stores_spec_with_defaults_filled_in(db: Session, spec: dict[str, Any]) -> None:
    view = campaigns.create_campaign(db, spec)
    assert view.state == "draft"
    assert view.spec["gateway"]["timeoutInMs"] == 60000
    assert view.spec["window"]["timezone"] == "contact"
    assert db.get(CampaignRow, view.id) is not None


def test_invalid_spec_reports_every_error_and_stores_nothing(db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(CampaignRow))
    doc = spec_doc(retry={"outcomes": {"busy": {"delays": ["2m", "5x"]}}}, pacing={"cps": -1})
    with pytest.raises(SpecInvalid) as caught:
        campaigns.create_campaign(db, doc)
    assert any(e.startswith("retry.outcomes.busy.delays[1]:") for e in caught.value.errors)
    assert any(e.startswith("pacing.cps") for e in caught.value.errors)
    assert db.scalar(select(func.count()).select_from(CampaignRow)) == before


def test_edit_replaces_pacing_and_keeps_the_rest(db: Session, spec: dict[str, Any]) -> None:
    view = campaigns.create_campaign(db, spec)
    edited = campaigns.edit_campaign(db, view.id, {"pacing": {"cps": 2, "max_live_calls": 3}})
    assert edited.spec["pacing"]["cps"] == 2
    assert edited.spec["gateway"] == view.spec["gateway"]
    assert edited.spec["retry"] == view.spec["retry"]


def test_edit_accepts_the_whole_original_spec_with_new_retry(
    db: Session, spec: dict[str, Any]
) -> None:
    view = campaigns.create_campaign(db, spec)
    edited = campaigns.edit_campaign(db, view.id, {**spec, "retry": {"max_attempts": 7}})
    assert edited.spec["retry"]["max_attempts"] == 7


def test_edit_refuses_to_change_the_gateway(db: Session, spec: dict[str, Any]) -> None:
    view = campaigns.create_campaign(db, spec)
    with pytest.raises(SpecInvalid, match="gateway: cannot be changed"):
        campaigns.edit_campaign(db, view.id, {"gateway": {"bot": "other", "caller": "+1201"}})


def test_edit_reports_invalid_blocks_with_paths(db: Session, spec: dict[str, Any]) -> None:
    view = campaigns.create_campaign(db, spec)
    with pytest.raises(SpecInvalid, match=r"window\.hours"):
        campaigns.edit_campaign(db, view.id, {"window": {"hours": {"mon": "25:00-26:00"}}})


def test_edit_of_cancelled_campaign_conflicts(db: Session, spec: dict[str, Any]) -> None:
    view = campaigns.create_campaign(db, spec)
    lifecycle.cancel(db, view.id, now=NOW)
    with pytest.raises(Conflict):
        campaigns.edit_campaign(db, view.id, {"pacing": {"cps": 1}})


def test_unknown_campaign_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound, match="campaign 987654321"):
        campaigns.get_campaign(db, 987654321)


def test_list_pages_newest_first(db: Session) -> None:
    ids = [campaigns.create_campaign(db, spec_doc()).id for _ in range(3)]
    page, total = campaigns.list_campaigns(db, limit=2, offset=0)
    assert total >= 3
    assert [c.id for c in page] == sorted(ids, reverse=True)[:2]
