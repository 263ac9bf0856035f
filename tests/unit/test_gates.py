"""The one gate decision shared by the dispatcher and the dial path."""

from datetime import UTC, datetime, timedelta

from campaign.domain import gates
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.reasons import Closed, Waiting
from campaign.domain.retry_policy import PastAttempt
from campaign.domain.spec import parse_spec
from campaign.domain.states import CampaignState, ContactEvent

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)  # Monday 11:00 in New York
BASE = {"name": "g", "gateway": {"bot": "b", "caller": "+12706165788", "timeoutInMs": 60000}}
NY = ["America/New_York"]


def spec(**blocks: object) -> object:
    return parse_spec({**BASE, **blocks})


def decide(s: object, *, campaign: CampaignState = CampaignState.RUNNING, **kw: object) -> object:
    args = {"on_dnc": False, "contact_zones": NY, "history": (), "now": NOW, **kw}
    return gates.decide(s, campaign=campaign, **args)  # type: ignore[arg-type]


def test_every_gate_open_dials() -> None:
    assert decide(spec()) == gates.OPEN


def test_a_cancelled_campaign_closes_and_a_paused_one_hands_back_now() -> None:
    s = spec()
    assert decide(s, campaign=CampaignState.CANCELLED) == gates.Close(
        ContactEvent.CANCEL, Closed.CAMPAIGN_CANCELLED
    )
    assert decide(s, campaign=CampaignState.PAUSED) == gates.Defer(NOW, Waiting.CAMPAIGN_PAUSED)


def test_do_not_call_suppresses_before_any_window() -> None:
    closed_now = spec(window={"hours": {"mon-sun": "00:00-00:01"}})
    assert decide(closed_now, on_dnc=True) == gates.Close(
        ContactEvent.SUPPRESS, Closed.DO_NOT_CALL
    )


def test_the_window_must_stay_open_for_the_whole_ring_time() -> None:
    # Open until 11:00:30 local: a 60 s ring would run past it, so wait for tomorrow's opening.
    s = spec(window={"timezone": "contact", "hours": {"mon-sun": "09:00-11:00"}})
    verdict = decide(s, now=NOW - timedelta(seconds=30))
    assert verdict == gates.Defer(datetime(2026, 5, 5, 13, 0, tzinfo=UTC), Waiting.WINDOW)


def test_a_window_that_never_opens_again_exhausts() -> None:
    s = spec(window={"hours": {"mon-sun": "09:00-10:00"}, "end": "2026-05-04T12:00:00-04:00"})
    assert decide(s) == gates.Close(ContactEvent.EXHAUST, Closed.WINDOW_NEVER_OPENS)


def test_frequency_caps_defer_to_the_first_allowed_instant() -> None:
    s = spec(retry={"min_gap": "1h"})
    last = PastAttempt(NOW - timedelta(minutes=10), OutcomeClass.BUSY, counted=True)
    assert decide(s, history=[last]) == gates.Defer(NOW + timedelta(minutes=50), Waiting.FREQUENCY)
    refused = PastAttempt(NOW, OutcomeClass.GATEWAY_ERROR, counted=False, placed=False)
    assert decide(s, history=[refused]) == gates.OPEN  # a refused dial-out is not a call
