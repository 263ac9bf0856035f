"""Live-call leases as the services see them: which keys an attempt holds, and freeing them.

A lease is freed only after the transaction that ended the attempt commits, so a rolled-back
final never frees a slot for a call that is still live. Trunk limits come from the account policy
in force (the environment's `TRUNK_CPS`/`TRUNK_MAX_LIVE_CALLS` under it), read with each claim,
so a change reaches the next dial without a restart; a release frees the trunk's lease whatever
the limit is by then, so a limit lifted or set while calls were live never strands one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from campaign.db.engine import after_commit
from campaign.domain.account import AccountPolicy, TrunkLimit
from campaign.domain.spec import CampaignSpec
from campaign.limits import Limiter, LiveCap, PacingKeys, pacing_keys
from campaign.services.account import environment_trunk
from campaign.settings import Settings


def _keys(limiter: Limiter, campaign_id: int, spec: CampaignSpec, trunk: TrunkLimit) -> PacingKeys:
    return pacing_keys(
        limiter,
        campaign_id=campaign_id,
        cps=spec.pacing.cps,
        burst=spec.pacing.burst,
        max_live_calls=spec.pacing.max_live_calls,
        trunk=spec.gateway.trunk,
        trunk_cps=trunk.cps,
        trunk_max_live_calls=trunk.max_live_calls,
    )


def keys_for(
    limiter: Limiter,
    settings: Settings,
    campaign_id: int,
    spec: CampaignSpec,
    account: AccountPolicy,
) -> PacingKeys:
    """The campaign's and trunk's pacing keys under the current spec and account policy."""
    trunk = account.trunk_limit(spec.gateway.trunk, environment_trunk(settings))
    return _keys(limiter, campaign_id, spec, trunk)


def held_caps(limiter: Limiter, campaign_id: int, spec: CampaignSpec) -> tuple[LiveCap, ...]:
    """Every lease set an attempt of the campaign may hold (the cap figures do not matter to a
    release: freeing a lease an attempt does not hold changes nothing)."""
    every = TrunkLimit(max_live_calls=spec.pacing.max_live_calls)
    return _keys(limiter, campaign_id, spec, every).caps


@dataclass(frozen=True)
class Leases:
    """Frees the live-call leases of ended attempts under the account settings."""

    limiter: Limiter
    settings: Settings

    def release_after_commit(
        self, session: Session, *, attempt_id: int, campaign_id: int, spec: CampaignSpec
    ) -> None:
        """Free the attempt's live-call leases once `session`'s transaction commits."""
        caps = held_caps(self.limiter, campaign_id, spec)
        after_commit(session, lambda: self.limiter.release(str(attempt_id), caps))
