"""The `retry:` block: defaults, validation messages with their paths, and the echo."""

from datetime import timedelta
from typing import Any

import pytest

from campaign.domain.backoff import Backoff
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import DEFAULT_RULES, OutcomeRule, RetryPolicy
from campaign.errors import SpecInvalid

DESIGN_EXAMPLE = {
    "max_attempts": 5,
    "per_day": 3,
    "min_gap": "10m",
    "outcomes": {
        "busy": {"delays": ["2m", "10m", "30m"]},
        "rejected": {"delays": ["1h"], "max": 2},
        "unavailable": {"delays": ["5m"]},
        "machine": {"delays": ["4h"]},
    },
}
CLASSES = ", ".join(outcome.value for outcome in OutcomeClass)


def test_an_absent_block_means_every_default() -> None:
    policy = RetryPolicy.from_dict(None)
    assert policy == RetryPolicy.from_dict({})
    assert (policy.max_attempts, policy.per_day, policy.per_week, policy.min_gap) == (
        5,
        None,
        None,
        None,
    )
    assert dict(policy.outcomes) == dict(DEFAULT_RULES)


def test_gateway_back_pressure_is_retried_uncounted_with_backoff_unless_listed() -> None:
    rule = RetryPolicy.from_dict({}).outcomes[OutcomeClass.UNAVAILABLE]
    assert rule == OutcomeRule(
        backoff=Backoff.exponential(
            base=timedelta(minutes=1), cap=timedelta(minutes=30), factor=2, jitter=0.2
        ),
        max=10,
        counted=False,
    )
    assert RetryPolicy.from_dict({}).outcomes[OutcomeClass.GATEWAY_ERROR] == rule


def test_unlisted_classes_other_than_back_pressure_are_final() -> None:
    outcomes = RetryPolicy.from_dict({"outcomes": {"busy": {"delays": ["2m"]}}}).outcomes
    assert set(outcomes) == {
        OutcomeClass.BUSY,
        OutcomeClass.UNAVAILABLE,
        OutcomeClass.GATEWAY_ERROR,
    }


def test_the_design_example_reads_with_its_implied_caps() -> None:
    policy = RetryPolicy.from_dict(DESIGN_EXAMPLE)
    busy = policy.outcomes[OutcomeClass.BUSY]
    assert busy.max == 4  # three delays: three retries
    assert busy.counted is True
    assert policy.outcomes[OutcomeClass.REJECTED].max == 2
    unavailable = policy.outcomes[OutcomeClass.UNAVAILABLE]
    assert (unavailable.counted, unavailable.max) == (False, 2)
    assert policy.min_gap == timedelta(minutes=10)
    assert policy.per_day == 3


def test_an_uncounted_backoff_without_max_is_still_bounded() -> None:
    policy = RetryPolicy.from_dict(
        {"outcomes": {"lost": {"backoff": {"base": "1m"}, "counted": False}}}
    )
    assert policy.outcomes[OutcomeClass.LOST].max == 10


def test_a_counted_backoff_without_max_is_bounded_only_by_max_attempts() -> None:
    policy = RetryPolicy.from_dict({"outcomes": {"no_answer": {"backoff": {"base": "1m"}}}})
    assert policy.outcomes[OutcomeClass.NO_ANSWER].max is None


def test_counted_can_be_overridden_both_ways() -> None:
    policy = RetryPolicy.from_dict(
        {
            "outcomes": {
                "unavailable": {"delays": ["1m"], "counted": True},
                "busy": {"delays": ["1m"], "counted": False},
            }
        }
    )
    assert policy.counts(OutcomeClass.UNAVAILABLE) is True
    assert policy.counts(OutcomeClass.BUSY) is False
    assert policy.counts(OutcomeClass.HUMAN) is True


def test_a_refused_dial_out_can_never_be_counted() -> None:
    with pytest.raises(SpecInvalid) as raised:
        RetryPolicy.from_dict({"outcomes": {"gateway_error": {"delays": ["1m"], "counted": True}}})
    assert raised.value.errors == [
        "retry.outcomes.gateway_error.counted: "
        "a refused dial-out is not a call and is never counted"
    ]


def test_null_makes_a_default_rule_final_and_the_echo_says_so() -> None:
    policy = RetryPolicy.from_dict({"outcomes": {"unavailable": None}})
    assert OutcomeClass.UNAVAILABLE not in policy.outcomes
    assert policy.to_dict()["outcomes"]["unavailable"] is None


def test_the_echo_fills_in_every_default() -> None:
    assert RetryPolicy.from_dict(DESIGN_EXAMPLE).to_dict() == {
        "max_attempts": 5,
        "per_day": 3,
        "per_week": None,
        "min_gap": "10m",
        "outcomes": {
            "busy": {"delays": ["2m", "10m", "30m"], "max": 4, "counted": True},
            "rejected": {"delays": ["1h"], "max": 2, "counted": True},
            "unavailable": {"delays": ["5m"], "max": 2, "counted": False},
            "machine": {"delays": ["4h"], "max": 2, "counted": True},
            "gateway_error": {
                "backoff": {"base": "1m", "factor": 2.0, "max": "30m", "jitter": 0.2},
                "max": 10,
                "counted": False,
            },
        },
    }


@pytest.mark.parametrize(
    "spec",
    [
        None,
        DESIGN_EXAMPLE,
        {"per_week": 7, "min_gap": "1500ms", "outcomes": {"gateway_error": None}},
        {
            "max_attempts": 12,
            "outcomes": {
                "no_answer": {"backoff": {"base": "90s", "factor": 1.5, "max": "2h"}},
                "lost": {"backoff": {"base": "1m", "jitter": 0.1}, "max": 3, "counted": False},
            },
        },
    ],
)
def test_the_echo_reads_back_to_an_equal_policy(spec: Any) -> None:
    policy = RetryPolicy.from_dict(spec)
    echoed = policy.to_dict()
    assert RetryPolicy.from_dict(echoed) == policy
    assert RetryPolicy.from_dict(echoed).to_dict() == echoed


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ([], "retry: must be a mapping"),
        (
            {"max_attempt": 3},
            "retry.max_attempt: unknown key "
            "(expected one of max_attempts, per_day, per_week, min_gap, outcomes)",
        ),
        ({"max_attempts": 0}, "retry.max_attempts: must be a positive integer"),
        ({"max_attempts": True}, "retry.max_attempts: must be a positive integer"),
        ({"max_attempts": 2.5}, "retry.max_attempts: must be a positive integer"),
        ({"per_day": -1}, "retry.per_day: must be a positive integer"),
        ({"per_week": "7"}, "retry.per_week: must be a positive integer"),
        ({"min_gap": "10"}, 'retry.min_gap: "10" is not a duration'),
        ({"outcomes": ["busy"]}, "retry.outcomes: must be a mapping of outcome class to rule"),
        (
            {"outcomes": {"bussy": {"delays": ["1m"]}}},
            f"retry.outcomes.bussy: unknown outcome class (expected one of {CLASSES})",
        ),
        (
            {"outcomes": {"busy": ["1m"]}},
            "retry.outcomes.busy: must be a mapping with delays or backoff (or null: no redial)",
        ),
        (
            {"outcomes": {"busy": {"delays": ["1m"], "delay": ["2m"]}}},
            "retry.outcomes.busy.delay: unknown key "
            "(expected one of delays, backoff, max, counted)",
        ),
        (
            {"outcomes": {"busy": {"max": 2}}},
            "retry.outcomes.busy: give exactly one of delays or backoff",
        ),
        (
            {"outcomes": {"busy": {"delays": ["1m"], "backoff": {"base": "1m"}}}},
            "retry.outcomes.busy: give exactly one of delays or backoff",
        ),
        (
            {"outcomes": {"busy": {"delays": ["2m", "5x"]}}},
            'retry.outcomes.busy.delays[1]: "5x" is not a duration',
        ),
        (
            {"outcomes": {"busy": {"delays": []}}},
            "retry.outcomes.busy.delays: must be a non-empty list of durations",
        ),
        (
            {"outcomes": {"busy": {"delays": "2m"}}},
            "retry.outcomes.busy.delays: must be a non-empty list of durations",
        ),
        (
            {"outcomes": {"busy": {"delays": ["2m"], "max": 0}}},
            "retry.outcomes.busy.max: must be a positive integer",
        ),
        (
            {"outcomes": {"busy": {"delays": ["2m"], "counted": "no"}}},
            "retry.outcomes.busy.counted: must be true or false",
        ),
        (
            {"outcomes": {"busy": {"backoff": "1m"}}},
            "retry.outcomes.busy.backoff: must be a mapping with keys base, factor, max, jitter",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"factor": 2}}}},
            "retry.outcomes.busy.backoff.base: required, a duration such as 1m",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1x"}}}},
            'retry.outcomes.busy.backoff.base: "1x" is not a duration',
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1m", "cap": "1h"}}}},
            "retry.outcomes.busy.backoff.cap: unknown key "
            "(expected one of base, factor, max, jitter)",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1m", "factor": 0.5}}}},
            "retry.outcomes.busy.backoff.factor: must be a number of at least 1",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1m", "factor": True}}}},
            "retry.outcomes.busy.backoff.factor: must be a number of at least 1",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1m", "jitter": 1}}}},
            "retry.outcomes.busy.backoff.jitter: must be a number of at least 0 and less than 1",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1m", "jitter": float("nan")}}}},
            "retry.outcomes.busy.backoff.jitter: must be a number of at least 0 and less than 1",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1h", "max": "10m"}}}},
            "retry.outcomes.busy.backoff.max: must not be less than base (1h)",
        ),
        (
            {"outcomes": {"busy": {"backoff": {"base": "1m", "max": "soon"}}}},
            'retry.outcomes.busy.backoff.max: "soon" is not a duration',
        ),
    ],
)
def test_each_problem_is_reported_under_its_path(spec: object, error: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        RetryPolicy.from_dict(spec)
    assert caught.value.errors == [error]


def test_every_problem_is_reported_at_once_under_the_callers_path() -> None:
    spec = {
        "max_attempts": 0,
        "min_gap": "5x",
        "outcomes": {
            "bussy": {"delays": ["1m"]},
            "busy": {"delays": ["2m", "5x"]},
            "rejected": {"backoff": {"base": "1m", "factor": 0}},
        },
    }
    with pytest.raises(SpecInvalid) as caught:
        RetryPolicy.from_dict(spec, "campaign.retry")
    assert caught.value.errors == [
        "campaign.retry.max_attempts: must be a positive integer",
        'campaign.retry.min_gap: "5x" is not a duration',
        f"campaign.retry.outcomes.bussy: unknown outcome class (expected one of {CLASSES})",
        'campaign.retry.outcomes.busy.delays[1]: "5x" is not a duration',
        "campaign.retry.outcomes.rejected.backoff.factor: must be a number of at least 1",
    ]


def test_a_policy_built_by_hand_refuses_caps_that_could_never_be_met() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(per_day=0)
    with pytest.raises(ValueError, match="min_gap"):
        RetryPolicy(min_gap=timedelta(seconds=-1))
