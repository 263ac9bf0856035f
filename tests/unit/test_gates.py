"""The one gate decision shared by the dispatcher and the dial path."""

from datetime import UTC, datetime, timedelta

from campaign.domain import gates
from campaign.domain.account import AccountPolicy
from campaign.domain.account_gates import NumberFacts
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


def test_the_campaign_gate_alone_agrees_with_decide() -> None:
    s = spec()
    for state in CampaignState:
        gate = gates.campaign_gate(state)
        verdict = decide(s, campaign=state)
        if gate is None:
            assert verdict == gates.OPEN
        elif isinstance(gate, gates.Close):
            assert verdict == gate
        else:
            assert verdict == gates.Defer(NOW, gate)


def test_do_not_call_suppresses_before_any_window() -> None:
    closed_now = spec(window={"hours": {"mon-sun": "00:00-00:01"}})
    assert decide(closed_now, on_dnc=True) == gates.Close(ContactEvent.SUPPRESS, Closed.DO_NOT_CALL)


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


# --- the account policy, through the same decision ---------------------------------------------

LONDON = ["Europe/London"]


def account(**compliance: object) -> AccountPolicy:
    return AccountPolicy.from_dict({"compliance": compliance})


def test_a_national_holiday_holds_contacts_of_that_country_until_it_is_over() -> None:
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    policy = account(holidays=["GB"])
    gb = NumberFacts(region="GB")
    verdict = decide(spec(), now=christmas, contact_zones=LONDON, account=policy, number=gb)
    # Christmas Day, then Boxing Day (a Saturday): calls resume on Sunday 27th, London midnight.
    assert verdict == gates.Defer(
        datetime(2026, 12, 27, 0, 0, tzinfo=UTC), Waiting.HOLIDAY, "Christmas Day (GB)"
    )
    assert verdict.text == "holiday: Christmas Day (GB)"
    fr = NumberFacts(region="FR")
    assert decide(spec(), now=christmas, account=policy, number=fr) == gates.OPEN


def test_account_hours_follow_the_contacts_region_on_top_of_the_campaign_window() -> None:
    policy = account(hours={"default": "08:00-21:00", "US-FL": "08:00-20:00"})
    evening = datetime(2026, 5, 5, 0, 30, tzinfo=UTC)  # 20:30 in New York and Miami
    florida = decide(spec(), now=evening, account=policy, number=NumberFacts(region="US-FL"))
    assert florida == gates.Defer(
        datetime(2026, 5, 5, 12, 0, tzinfo=UTC), Waiting.ACCOUNT_HOURS, "US-FL"
    )
    assert florida.text == "account hours: US-FL"
    new_york = decide(spec(), now=evening, account=policy, number=NumberFacts(region="US-NY"))
    assert new_york == gates.OPEN


def test_account_hours_read_the_contacts_own_zone_when_the_campaign_uses_one_zone() -> None:
    s = spec(window={"timezone": "America/Chicago"})
    policy = account(hours={"default": "08:00-21:00"})
    # 22:00 in London, 16:00 in Chicago: the account's hours are the person's own.
    late_in_london = datetime(2026, 5, 4, 21, 0, tzinfo=UTC)
    verdict = decide(s, now=late_in_london, contact_zones=LONDON, account=policy)
    assert verdict == gates.Defer(
        datetime(2026, 5, 5, 7, 0, tzinfo=UTC), Waiting.ACCOUNT_HOURS, "default"
    )


def test_per_number_caps_count_calls_from_every_campaign() -> None:
    policy = account(per_number={"per_day": 1})
    called = NumberFacts(calls=(NOW - timedelta(hours=2),))
    verdict = decide(spec(), account=policy, number=called)
    # The next local day in New York (UTC-4).
    assert verdict == gates.Defer(
        datetime(2026, 5, 5, 4, 0, tzinfo=UTC), Waiting.ACCOUNT_CAP, "1 call today to this number"
    )
    assert decide(spec(), account=policy, number=NumberFacts()) == gates.OPEN


def test_a_hold_is_due_when_every_time_gate_is_open_at_once() -> None:
    s = spec(window={"timezone": "contact", "hours": {"mon-sun": "09:00-20:00"}})
    policy = account(per_number={"per_day": 1})
    called = NumberFacts(calls=(NOW - timedelta(hours=1),))
    # The cap lifts at midnight, but the window opens at 09:00: due then, waiting for the cap.
    assert decide(s, account=policy, number=called) == gates.Defer(
        datetime(2026, 5, 5, 13, 0, tzinfo=UTC), Waiting.ACCOUNT_CAP, "1 call today to this number"
    )


def test_a_number_on_a_call_elsewhere_is_looked_at_again_shortly() -> None:
    policy = account(per_number={"per_week": 7})
    busy = NumberFacts(in_progress=True)
    assert decide(spec(), account=policy, number=busy) == gates.Defer(
        NOW + timedelta(minutes=1), Waiting.ACCOUNT_CAP, "a call to this number is in progress"
    )


def test_required_consent_suppresses_contacts_without_it() -> None:
    policy = account(require_consent=True)
    for consent in (None, False):
        assert decide(spec(), account=policy, number=NumberFacts(consent=consent)) == gates.Close(
            ContactEvent.SUPPRESS, Closed.NO_CONSENT
        )
    assert decide(spec(), account=policy, number=NumberFacts(consent=True)) == gates.OPEN
