"""Live-call leases as the services see them: which keys an attempt holds, and freeing them.

A lease is freed only after the transaction that ended the attempt commits, so a rolled-back
final never frees a slot for a call that is still live.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from campaign.db.engine import after_commit
from campaign.domain.spec import CampaignSpec
from campaign.limits import Limiter, PacingKeys, pacing_keys
from campaign.settings import Settings


def keys_for(
    limiter: Limiter, settings: Settings, campaign_id: int, spec: CampaignSpec
) -> PacingKeys:
    """The campaign's and trunk's pacing keys under the current spec and account settings."""
    return pacing_keys(
        limiter,
        campaign_id=campaign_id,
        cps=spec.pacing.cps,
        burst=spec.pacing.burst,
        max_live_calls=spec.pacing.max_live_calls,
        trunk=spec.gateway.trunk,
        trunk_cps=settings.trunk_cps,
        trunk_max_live_calls=settings.trunk_max_live_calls,
    )


@dataclass(frozen=True)
class Leases:
    """Frees the live-call leases of ended attempts under the account settings."""

    limiter: Limiter
    settings: Settings

    def release_after_commit(
        self, session: Session, *, attempt_id: int, campaign_id: int, spec: CampaignSpec
    ) -> None:
        """Free the attempt's live-call leases once `session`'s transaction commits."""
        caps = keys_for(self.limiter, self.settings, campaign_id, spec).caps
        after_commit(session, lambda: self.limiter.release(str(attempt_id), caps))
