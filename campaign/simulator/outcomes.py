"""What a simulated call can turn out to be, and how tests script it.

The `Outcome` is the truth the records report; `Scripts` pin outcomes per number so a test can
assert exact retry behaviour; the default tables say which SIP status lines and AMD verdicts each
outcome may produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from campaign.simulator.numbers import number_key


class FrozenModel(BaseModel):
    """Immutable, and strict about unknown keys, so a typo in a config is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome(StrEnum):
    """What really happened on the simulated line: the truth the records report."""

    HUMAN = "human"
    MACHINE = "machine"
    NO_SPEECH = "no_speech"
    UNDECIDED = "undecided"
    BUSY = "busy"
    REJECTED = "rejected"
    NO_ANSWER = "no_answer"
    UNAVAILABLE = "unavailable"
    FAILED_OTHER = "failed_other"

    @property
    def answered(self) -> bool:
        """Whether the far end picks up (an `answered` then `completed` pair follows)."""
        return self in _ANSWERED


_ANSWERED = frozenset({Outcome.HUMAN, Outcome.MACHINE, Outcome.NO_SPEECH, Outcome.UNDECIDED})


class Span(FrozenModel):
    """A uniform distribution in simulated seconds."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ScriptedDisposition(FrozenModel):
    """What the bot posts during (or after) a scripted call: `body` (e.g. `{"disposition":
    "callback", "at": "2026-12-01T17:00"}`) to the dial-out's `metadata.campaign
    .disposition_url`, `at_s` simulated seconds after the answer (after placement for a call
    never answered). An `at_s` past the call's end posts it after the final notification."""

    at_s: float = Field(default=0.0, ge=0)
    body: dict[str, Any]


class ScriptStep(FrozenModel):
    """One scripted call: the outcome, and optionally exact times, wire values and what the bot
    posts as the call's disposition."""

    outcome: Outcome
    ring_s: float | None = Field(default=None, ge=0)
    talk_s: float | None = Field(default=None, ge=0)
    reason: str | None = None  # SIP status line of a failed call, e.g. "603 Decline"
    amd: str | None = None  # AMD result of an answered call, e.g. "amd_tone_detected"
    disposition: ScriptedDisposition | None = None


def _as_step(value: object) -> object:
    return {"outcome": value} if isinstance(value, str) else value


class Scripts(FrozenModel):
    """Deterministic outcomes: a number's sequence beats a suffix rule, which beats the mix.

    `by_number`: the Nth call to that number plays the Nth step; the last step repeats.
    `by_suffix`: numbers whose digits end with the key always play that step (longest key wins).
    Keys are normalised to digits, so `tel:+1 555 0100` and `15550100` name the same number.
    """

    by_number: dict[str, list[ScriptStep]] = Field(default_factory=dict)
    by_suffix: dict[str, ScriptStep] = Field(default_factory=dict)

    @field_validator("by_number", mode="before")
    @classmethod
    def _number_steps(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value
        out: dict[str, list[object]] = {}
        for key, steps in value.items():
            seq = steps if isinstance(steps, list) else [steps]
            if not seq:
                raise ValueError(f"by_number[{key!r}]: give at least one step")
            out[number_key(str(key))] = [_as_step(s) for s in seq]
        return out

    @field_validator("by_suffix", mode="before")
    @classmethod
    def _suffix_steps(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value
        return {number_key(str(key)): _as_step(step) for key, step in value.items()}


def default_mix() -> dict[Outcome, float]:
    return {
        Outcome.HUMAN: 0.45,
        Outcome.MACHINE: 0.15,
        Outcome.NO_SPEECH: 0.04,
        Outcome.UNDECIDED: 0.03,
        Outcome.BUSY: 0.10,
        Outcome.REJECTED: 0.05,
        Outcome.NO_ANSWER: 0.10,
        Outcome.UNAVAILABLE: 0.04,
        Outcome.FAILED_OTHER: 0.04,
    }


def default_sip_reasons() -> dict[Outcome, list[str]]:
    return {
        Outcome.BUSY: ["486 Busy Here"],
        Outcome.REJECTED: ["480 Temporarily Unavailable", "603 Decline"],
        Outcome.NO_ANSWER: ["487 Request Terminated"],
        Outcome.UNAVAILABLE: ["503 Service Unavailable"],
        Outcome.FAILED_OTHER: ["404 Not Found"],
    }


def default_amd_results() -> dict[Outcome, list[str]]:
    return {
        Outcome.HUMAN: ["amd_human_detected"],
        Outcome.MACHINE: [
            "amd_machine_detected",
            "amd_machine_stopped_speaking",
            "amd_tone_detected",
        ],
        Outcome.NO_SPEECH: ["amd_no_speech_detected"],
        Outcome.UNDECIDED: ["amd_decision_timeout", "amd_error"],
    }
