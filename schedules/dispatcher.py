"""The dispatcher tick: for each running campaign, claim as many due contacts as pacing can use.

Leader-free: every replica runs the same tick; `FOR UPDATE SKIP LOCKED` hands each contact to one
of them. The claim is sized by `dispatch_budget` so the broker holds only about `horizon_s` seconds
of work: a pause, a closing window or a policy edit then reaches contacts that are still in
PostgreSQL, not messages already in flight. A trunk sets the pace of the campaigns dialing through
it when it is slower than they are, and one whose live-call cap is full takes no new attempts from
any of them (its limits and room are read once per tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Text, cast, func, select

from campaign.clock import utcnow
from campaign.db.engine import after_commit, transaction
from campaign.db.tables import CampaignRow
from campaign.domain.account import trunk_name
from campaign.domain.pacing import dispatch_budget
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import CampaignState
from campaign.runtime import Runtime
from campaign.services.account import environment_trunk
from campaign.services.dispatching import claim_due_contacts, open_attempt_counts, trunk_shares
from campaign.services.specs import spec_for

# The digest of each running campaign's spec, not the spec: a spec version is fetched and parsed
# once (`spec_for`). Built once: the tick runs it several times a second.
_RUNNING = select(
    CampaignRow.id, func.md5(cast(CampaignRow.spec, Text)), CampaignRow.current_run_id
).where(CampaignRow.state == CampaignState.RUNNING.value)

DEFAULT_BATCH = 500
DEFAULT_HORIZON_S = 2.0


@dataclass
class TickResult:
    """What one tick did, summed over campaigns."""

    campaigns: int = 0
    claimed: int = 0
    window_closed: int = 0
    capped: int = 0
    suppressed: int = 0
    held: int = 0  # campaigns whose gateway breaker is open
    dry: int = 0  # campaigns with room to dial that got no attempt: nothing due, or all held back

    @property
    def idle(self) -> bool:
        """Nothing to do until some contact falls due: no campaign got an attempt, and none
        waits for room (its broker share full, to be topped up as calls end)."""
        return self.claimed == 0 and self.dry + self.held == self.campaigns


def _gateway_holds(runtime: Runtime, spec: CampaignSpec) -> bool | None:
    """None while the campaign's gateway breaker holds every dial (nothing to claim: the contacts
    stay in PostgreSQL); True when its cool-down is over and one probe dial may go; else False."""
    breaker = runtime.read_breaker(spec.gateway.trunk)
    if not breaker.open:
        return False
    # The Redis clock set `until`; the wall clock reads it (a driven test clock would not).
    return True if breaker.until is None or breaker.until <= utcnow() else None


def tick(
    runtime: Runtime,
    now: datetime,
    *,
    batch: int = DEFAULT_BATCH,
    horizon_s: float = DEFAULT_HORIZON_S,
) -> TickResult:
    """One pass over the running campaigns; each campaign's claim is its own short transaction."""
    result = TickResult()
    with runtime.sessions() as session:
        rows = session.execute(_RUNNING).all()
        running = [(cid, spec_for(session, cid, digest), run_id) for cid, digest, run_id in rows]
        environment = environment_trunk(runtime.settings)
        trunks = trunk_shares(session, environment, [spec for _, spec, _ in running])
    for campaign_id, spec, run_id in running:
        result.campaigns += 1
        probe_only = _gateway_holds(runtime, spec)
        if probe_only is None:
            result.held += 1
            continue
        with transaction(runtime.sessions) as session:
            live, queued = open_attempt_counts(session, campaign_id)
            budget = dispatch_budget(
                spec.pacing.cps,
                live,
                spec.pacing.max_live_calls,
                horizon_s,
                queued,
                trunk=trunks[trunk_name(spec.gateway.trunk)],
            )
            if probe_only:
                budget = min(budget, 1 - queued)
            if budget <= 0:
                continue
            claimed = claim_due_contacts(
                session,
                campaign_id=campaign_id,
                run_id=run_id,
                spec=spec,
                now=now,
                limit=min(budget, batch),
            )
            if claimed.attempt_ids:
                after_commit(session, partial(runtime.enqueue_dials, claimed.attempt_ids))
        result.claimed += len(claimed.attempt_ids)
        result.dry += not claimed.attempt_ids
        result.window_closed += claimed.window_closed
        result.capped += claimed.capped
        result.suppressed += claimed.suppressed
    return result
