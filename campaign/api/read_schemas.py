"""Response pages of the console's read routes; their items are the services' frozen
dataclasses (attempts, campaign summaries, waiting reasons), which FastAPI documents and
serialises as they are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from campaign.api.schemas import Page
from campaign.services.attempts import AttemptView
from campaign.services.overview import CampaignSummary, WaitingReason


class AttemptPage(Page):
    items: list[AttemptView]


class OverviewPage(Page):
    items: list[CampaignSummary]


class WaitingList(BaseModel):
    items: list[WaitingReason]


class KeyScope(BaseModel):
    """What the key that made the request may do: `operator` acts, `read` only looks."""

    scope: str


class SpecDocument(BaseModel):
    """A spec read from YAML or JSON text, as the JSON the other spec routes take."""

    document: Any
