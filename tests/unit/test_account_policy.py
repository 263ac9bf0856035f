"""The account policy document: read like a spec (every problem with its path), echoed whole."""

from datetime import timedelta

import pytest

from campaign.domain.account import AccountPolicy, TrunkLimit
from campaign.errors import SpecInvalid

ISSUE_EXAMPLE = {
    "trunks": {
        "default": {"cps": 20, "max_live_calls": 100},
        "carrier-b": {"cps": 5, "max_live_calls": 20},
    },
    "compliance": {
        "per_number": {"per_day": 3, "per_week": 7, "min_gap": "4h"},
        "hours": {"default": "08:00-21:00", "US-FL": "08:00-20:00"},
        "holidays": ["US", "GB"],
        "require_consent": False,
    },
}
ENV = TrunkLimit(cps=50.0, max_live_calls=500)


def problems(document: object) -> list[str]:
    with pytest.raises(SpecInvalid) as caught:
        AccountPolicy.from_dict(document)
    return caught.value.errors


def test_the_issue_example_reads_and_echoes_to_an_equal_policy() -> None:
    policy = AccountPolicy.from_dict(ISSUE_EXAMPLE)
    caps = policy.compliance.per_number
    assert (caps.per_day, caps.per_week, caps.min_gap) == (3, 7, timedelta(hours=4))
    assert policy.compliance.holidays == ("US", "GB")
    echoed = policy.to_dict()
    assert echoed["compliance"]["hours"] == {"default": "08:00-21:00", "US-FL": "08:00-20:00"}
    assert AccountPolicy.from_dict(echoed) == policy


def test_no_document_means_no_rules() -> None:
    for empty in (None, {}):
        policy = AccountPolicy.from_dict(empty)
        assert policy == AccountPolicy()
        assert not policy.compliance.active


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems(
        {
            "trunks": {"carrier-b": {"cps": "fast", "max_live_calls": 0, "burst": 2}},
            "compliance": {
                "per_number": {"per_day": 0, "min_gap": "8d"},
                "hours": {"default": "8-21", "Florida": "08:00-20:00"},
                "holidays": ["US", "ZZ"],
                "require_consent": "yes",
                "weekends": False,
            },
            "pacing": {},
        }
    )
    assert found == [
        "pacing: unknown key (expected one of trunks, compliance)",
        "trunks.carrier-b.burst: unknown key (expected one of cps, max_live_calls)",
        'trunks.carrier-b.cps: "fast" is not a number above 0, at most 1000',
        "trunks.carrier-b.max_live_calls: must be a positive integer",
        "compliance.weekends: unknown key (expected one of per_number, hours, holidays, "
        "require_consent)",
        "compliance.per_number.per_day: must be a positive integer",
        "compliance.per_number.min_gap: must be at most 7d",
        "compliance.require_consent: must be true or false",
        'compliance.hours.default: "8-21" is not HH:MM-HH:MM',
        'compliance.hours.Florida: not "default" or a region code such as US or US-FL',
        'compliance.holidays[1]: "ZZ" is not a country with a known holiday calendar '
        "(ISO 3166 alpha-2, such as US or GB)",
    ]


def test_hours_may_differ_by_weekday() -> None:
    policy = AccountPolicy.from_dict(
        {"compliance": {"hours": {"US": {"mon-fri": "08:00-21:00", "sat": "09:00-17:00"}}}}
    )
    assert policy.compliance.to_dict()["hours"] == {
        "US": {"mon-fri": "08:00-21:00", "sat": "09:00-17:00", "sun": "closed"}
    }


def test_a_trunk_takes_each_missing_limit_from_default_then_the_environment() -> None:
    policy = AccountPolicy.from_dict(
        {"trunks": {"default": {"max_live_calls": 100}, "carrier-b": {"cps": 5}}}
    )
    assert policy.trunk_limit("carrier-b", ENV) == TrunkLimit(5.0, 100)
    assert policy.trunk_limit("carrier-c", ENV) == TrunkLimit(50.0, 100)
    assert policy.trunk_limit(None, ENV) == TrunkLimit(50.0, 100)
    assert AccountPolicy().trunk_limit("carrier-b", ENV) == ENV


def test_hours_apply_by_region_then_country_then_default() -> None:
    compliance = AccountPolicy.from_dict(ISSUE_EXAMPLE).compliance
    assert [
        compliance.hours_for(r) and compliance.hours_for(r)[0]
        for r in ("US-FL", "US-NY", "GB", None)
    ] == ["US-FL", "default", "default", "default"]
    assert AccountPolicy().compliance.hours_for("US") is None
