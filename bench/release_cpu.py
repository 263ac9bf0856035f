"""What a pause costs per queued attempt, ours beside the naive way: `python -m bench.release_cpu`.

A running campaign with N queued attempts (the real dispatcher's `tick`) is paused, then each
attempt's dial task runs in this process as the worker runs it (`claims.take`, then
`dialing.dial` when the claim returns an attempt). Ours: `lifecycle.pause` releases the queued
attempts in its own transaction, so each task's claim finds nothing. Naive (how pausing worked
before): the verb only flips the campaign's state, and each task claims its attempt, finds the
campaign paused and releases it through the dial path (`dial_records.release`). Rounds alternate
between the two on the same database, and each reports per queued attempt (median of rounds) this
process's CPU (the verb included), the bench database's PostgreSQL backends' CPU, and the
statements and round trips sent. A cancel takes the same path with the contacts closed instead.
"""

from __future__ import annotations

import httpx
from sqlalchemy import update

from bench.dial_cpu import accept, arguments, dialing_settings, measure, queue, report
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow
from campaign.domain.states import CampaignState
from campaign.services import claims, dialing, lifecycle
from campaign.services.dialing import DialDeps, DialResult
from campaign.settings import Settings
from tests.support.runtime import RecordingRuntime, dial_deps

Result = tuple[float, float, float, float]


def _pause_ours(runtime: RecordingRuntime, campaign_id: int) -> None:
    with transaction(runtime.sessions) as session:
        lifecycle.pause(session, campaign_id)


def _pause_naive(runtime: RecordingRuntime, campaign_id: int) -> None:
    with transaction(runtime.sessions) as session:
        session.execute(
            update(CampaignRow)
            .where(CampaignRow.id == campaign_id)
            .values(state=CampaignState.PAUSED.value)
        )


def _tasks(deps: DialDeps, attempt_ids: list[int]) -> None:
    """Each attempt's dial task after the pause: nothing to claim, or a claim released."""
    for attempt_id in attempt_ids:
        claim = claims.take(deps.sessions, attempt_id, None, utcnow())
        if claim is not None:
            assert dialing.dial(deps, claim) is DialResult.released


def _round(deps: DialDeps, runtime: RecordingRuntime, count: int, naive: bool) -> Result:
    """(CPU ms here, in PostgreSQL, statements and round trips) per queued attempt paused."""
    ids = queue(runtime, count)
    with runtime.sessions() as session:
        campaign_id = session.get_one(AttemptRow, ids[0]).campaign_id
    pause = _pause_naive if naive else _pause_ours

    def work() -> None:
        pause(runtime, campaign_id)
        _tasks(deps, ids)

    return measure(runtime, len(ids), work)


def run(settings: Settings, count: int, rounds: int) -> None:
    runtime = RecordingRuntime(settings, pool_size=4)
    try:
        gateway = httpx.MockTransport(accept)  # never reached: every attempt is paused first
        with dial_deps(runtime, settings.savg_base_url, utcnow, transport=gateway) as deps:
            _round(deps, runtime, 20, naive=True)  # warm-up: caches, connections, parsed spec
            _round(deps, runtime, 20, naive=False)
            results: dict[bool, list[Result]] = {True: [], False: []}
            for _ in range(rounds):
                for naive in (True, False):
                    results[naive].append(_round(deps, runtime, count, naive))
    finally:
        runtime.close()
    print("ours: the verb releases the queued attempts, each task finds nothing")
    report("queued_attempt", results[False])
    print("naive: the verb flips the state, each task claims and releases its attempt")
    report("queued_attempt", results[True])


def main() -> None:
    args = arguments(__doc__, "queued attempts per round").parse_args()
    with dialing_settings() as settings:
        run(settings, args.count, args.rounds)


if __name__ == "__main__":
    main()
