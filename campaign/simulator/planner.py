"""How one placed call will play out, decided once at placement so it can be recorded and replayed.

Pure: the caller passes the random generator and how many calls this number had before, so a
scripted sequence ("busy, busy, human") is exact regardless of timing.

Rules (the simulator's reading of docs/gateway.md and the jambonz field notes):
- an unanswered `no_answer` call rings until the ring timeout (`timeoutInMs`, else the configured
  default) and fails with 487; every answered call is picked up no later than that timeout;
- with detection on, a non-human verdict ends the call by the gateway (`SAVG-disconnected`): at the
  verdict in `disconnect` mode, after the talk time in `detect` mode; a human call is ended by the
  caller, or by the bot with `bot_hangup_rate`;
- no-speech and undecided verdicts come at the request's own AMD timers, human and machine verdicts
  after `amd_decision_s`; a call never ends before its verdict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Literal

from campaign.simulator.config import SimConfig
from campaign.simulator.outcomes import Outcome, ScriptedDisposition, Scripts, ScriptStep, Span
from campaign.simulator.request import DialRequest

EndedBy = Literal["caller", "bot", "gateway"]


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Offsets are simulated seconds from placement; multiply by `time_scale` for wall time."""

    outcome: Outcome
    reason: str  # SIP status line; "200 OK" for answered calls
    answer_s: float | None  # None: never answered
    end_s: float
    amd: str | None  # None: detection off, or the call failed
    amd_s: float | None
    ended_by: EndedBy
    disposition: ScriptedDisposition | None = None  # what the bot posts, and when

    @property
    def talk_s(self) -> float:
        """Connected time, the `duration` the notifications report."""
        return 0.0 if self.answer_s is None else self.end_s - self.answer_s


def scripted_step(number: str, nth: int, scripts: Scripts) -> ScriptStep | None:
    """The step a script gives the `nth` (0-based) call to `number`, or None to use the mix."""
    sequence = scripts.by_number.get(number)
    if sequence:
        return sequence[min(nth, len(sequence) - 1)]
    matches = [suffix for suffix in scripts.by_suffix if number.endswith(suffix)]
    return scripts.by_suffix[max(matches, key=len)] if matches else None


def plan_call(request: DialRequest, config: SimConfig, rng: random.Random, nth: int) -> CallPlan:
    """The whole future of a call placed now (see the module docstring for the rules)."""
    step = scripted_step(request.number, nth, config.scripts)
    if step is None:
        outcomes = list(config.mix)
        step = ScriptStep(outcome=rng.choices(outcomes, [config.mix[o] for o in outcomes])[0])
    ring_timeout_s = (request.ring_timeout_ms or config.default_ring_timeout_ms) / 1000
    if step.outcome.answered:
        plan = _answered(step, request, config, rng, ring_timeout_s)
    else:
        plan = _failed(step, config, rng, ring_timeout_s)
    return replace(plan, disposition=step.disposition) if step.disposition else plan


def _draw(value: float | None, span: Span, rng: random.Random) -> float:
    return value if value is not None else rng.uniform(span.min, span.max)


def _failed(
    step: ScriptStep, config: SimConfig, rng: random.Random, ring_timeout_s: float
) -> CallPlan:
    if step.outcome is Outcome.NO_ANSWER:
        end_s = ring_timeout_s
    elif step.outcome is Outcome.REJECTED:
        end_s = min(_draw(step.ring_s, config.ring_s, rng), ring_timeout_s)
    else:
        end_s = _draw(step.ring_s, config.early_fail_s, rng)
    reason = step.reason or rng.choice(config.sip_reasons[step.outcome])
    return CallPlan(step.outcome, reason, None, end_s, None, None, "gateway")


def _answered(
    step: ScriptStep,
    request: DialRequest,
    config: SimConfig,
    rng: random.Random,
    ring_timeout_s: float,
) -> CallPlan:
    answer_s = min(_draw(step.ring_s, config.ring_s, rng), ring_timeout_s)
    talk_s = _draw(step.talk_s, config.talk_s, rng)
    human_end: EndedBy = "bot" if rng.random() < config.bot_hangup_rate else "caller"
    if not request.amd_on:
        return CallPlan(step.outcome, "200 OK", answer_s, answer_s + talk_s, None, None, human_end)
    amd = step.amd or rng.choice(config.amd_results[step.outcome])
    if step.outcome is Outcome.NO_SPEECH:
        verdict_after = request.timers_ms["noSpeechTimeoutMs"] / 1000
    elif step.outcome is Outcome.UNDECIDED:
        verdict_after = request.timers_ms["decisionTimeoutMs"] / 1000
    else:
        verdict_after = rng.uniform(config.amd_decision_s.min, config.amd_decision_s.max)
    amd_s = answer_s + verdict_after
    if step.outcome is Outcome.HUMAN:
        return CallPlan(
            step.outcome, "200 OK", answer_s, max(answer_s + talk_s, amd_s), amd, amd_s, human_end
        )
    if request.machine_detection == "disconnect":
        return CallPlan(step.outcome, "200 OK", answer_s, amd_s, amd, amd_s, "gateway")
    end_s = max(answer_s + talk_s, amd_s)
    return CallPlan(step.outcome, "200 OK", answer_s, end_s, amd, amd_s, "gateway")
