"""The per-outcome rules of a retry policy (`retry.outcomes`), and reading them from a spec.

A rule says how one outcome class is redialed (a delay schedule), how many endings in that class
are allowed (`max`), and whether those endings count against the policy's `max_attempts`. Classes
that are the gateway's doing rather than the contact's (`unavailable`, `gateway_error`) get a rule
by default, uncounted; every other class without a rule is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from campaign.domain.backoff import Backoff
from campaign.domain.blocks import read_block
from campaign.domain.outcomes import OutcomeClass

DEFAULT_UNCOUNTED_MAX = 10
UNCOUNTED_BY_DEFAULT = frozenset({OutcomeClass.UNAVAILABLE, OutcomeClass.GATEWAY_ERROR})
_RULE_KEYS = ("delays", "backoff", "max", "counted")
_CLASS_NAMES = tuple(outcome.value for outcome in OutcomeClass)
T = TypeVar("T")


@dataclass(frozen=True)
class OutcomeRule:
    """How one outcome class is redialed: the schedule, a cap on its endings, and whether it counts.

    `max=None` leaves only the policy's `max_attempts` to stop the class (counted rules only).
    """

    backoff: Backoff
    max: int | None = None
    counted: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The rule as the spec writes it, every default filled in."""
        out = self.backoff.to_spec()
        if self.max is not None:
            out["max"] = self.max
        out["counted"] = self.counted
        return out


DEFAULT_RULES: Mapping[OutcomeClass, OutcomeRule] = MappingProxyType(
    {
        outcome: OutcomeRule(
            backoff=Backoff.exponential(
                base=timedelta(minutes=1), cap=timedelta(minutes=30), jitter=0.2
            ),
            max=DEFAULT_UNCOUNTED_MAX,
            counted=False,
        )
        for outcome in sorted(UNCOUNTED_BY_DEFAULT)
    }
)


def count(value: object, path: str, errors: list[str], default: T) -> int | T:
    """A positive integer, or `default` when absent/null (also returned after an error)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.append(f"{path}: must be a positive integer")
        return default
    return value


def read_outcomes(data: object, path: str, errors: list[str]) -> dict[OutcomeClass, OutcomeRule]:
    rules = dict(DEFAULT_RULES)
    if data is None:
        return rules
    if not isinstance(data, Mapping):
        errors.append(f"{path}: must be a mapping of outcome class to rule")
        return rules  # its keys are outcome classes, checked one by one below
    for name, raw in data.items():
        where = f"{path}.{name}"
        if name not in _CLASS_NAMES:
            errors.append(
                f"{where}: unknown outcome class (expected one of {', '.join(_CLASS_NAMES)})"
            )
        elif raw is None:
            rules.pop(OutcomeClass(name), None)
        elif (rule := _rule(OutcomeClass(name), raw, where, errors)) is not None:
            rules[OutcomeClass(name)] = rule
    return rules


def _rule(outcome: OutcomeClass, data: object, path: str, errors: list[str]) -> OutcomeRule | None:
    before = len(errors)
    expect = "with delays or backoff (or null: no redial)"
    data = read_block(data, path, _RULE_KEYS, errors, expect=expect)
    if data is None:
        return None
    raw_counted = data.get("counted")
    if raw_counted is not None and not isinstance(raw_counted, bool):
        errors.append(f"{path}.counted: must be true or false")
    elif raw_counted is True and outcome is OutcomeClass.GATEWAY_ERROR:
        errors.append(f"{path}.counted: a refused dial-out is not a call and is never counted")
    counted = outcome not in UNCOUNTED_BY_DEFAULT if raw_counted is None else raw_counted is True
    backoff = Backoff.from_spec(data, path, errors)
    max_ = count(data.get("max"), f"{path}.max", errors, None)
    if backoff is None or len(errors) > before:
        return None
    if max_ is None and backoff.delays:
        max_ = len(backoff.delays) + 1
    elif max_ is None and not counted:
        max_ = DEFAULT_UNCOUNTED_MAX
    return OutcomeRule(backoff, max_, counted)
