"""The simulator's whole behaviour as one JSON-serialisable model, replaceable at runtime.

Every knob a test may want to pin lives here: the outcome mix, scripts per number, time
distributions, the payload dialect, limits and faults. The running server holds one `SimConfig`
and swaps it atomically on `PUT`/`PATCH /_sim/config`; calls already placed keep the plan they
were given when placed.

Durations in the simulated world (ring, talk, AMD timers) are *simulated* seconds and are
multiplied by `time_scale` to get wall time; fault delays (`delay_ms`, `duration_ms`) are real
wall-clock milliseconds, because their point is to trip real client timeouts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from campaign.simulator.outcomes import (
    FrozenModel,
    Outcome,
    Scripts,
    Span,
    default_amd_results,
    default_mix,
    default_sip_reasons,
)


class Rate(FrozenModel):
    """A fault that fires with probability `rate` per opportunity."""

    rate: float = Field(default=0.0, ge=0, le=1)


class DelayedRate(Rate):
    """A fault that fires with `rate` and waits `delay_ms` of real time."""

    delay_ms: float = Field(default=0.0, ge=0)


class Burst(Rate):
    """With `rate` per request, refuse it and all requests in the next `duration_ms` (`status`;
    a 4xx status stands for a gateway that refuses our requests as wrong, a bad bot id say)."""

    duration_ms: float = Field(default=1000.0, ge=0)
    status: int = Field(default=503, ge=400, le=599)


class ConnectionReset(Rate):
    """With `rate`, drop the connection unanswered; `placed_ratio` of those did place the call."""

    placed_ratio: float = Field(default=0.5, ge=0, le=1)


class Faults(FrozenModel):
    """Fault injection; every rate is 0 by default."""

    duplicate: DelayedRate = DelayedRate(delay_ms=5.0)  # per notification: sent twice
    reorder: DelayedRate = DelayedRate(delay_ms=5.0)  # per call: `answered` after the final
    lose_final: Rate = Rate()  # per call: the final notification is never sent
    slow_answer: DelayedRate = DelayedRate(delay_ms=2000.0)  # per call: placed, answer delayed
    burst_5xx: Burst = Burst()  # per request: refused, no call
    connection_reset: ConnectionReset = ConnectionReset()  # per request


class Signature(FrozenModel):
    """`SAVG-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` on every notification."""

    enabled: bool = False
    secret: str | None = None  # None: SAVG_WEBHOOK_SECRET from the environment


class Notify(FrozenModel):
    """How notifications are posted. Real SAVG fires and forgets: no retry by default.

    `max_connections` (per receiving host) is read once at start-up; the rest apply at once.
    """

    timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=0, ge=0, le=10)
    retry_delay_ms: float = Field(default=500.0, ge=0)
    max_connections: int = Field(default=200, ge=1)


class Limit(FrozenModel):
    """Dial-outs in any 1-second window and calls live at once; None means unlimited."""

    cps: int | None = Field(default=None, ge=1)
    max_concurrent: int | None = Field(default=None, ge=1)


class Limits(FrozenModel):
    """The carrier's own capacity, checked before a call is placed (a refusal places nothing)."""

    account: Limit = Limit()
    trunk: Limit = Limit()  # applies to each trunk on its own unless `trunks` names it
    trunks: dict[str, Limit] = Field(default_factory=dict)
    refusal_status: Literal[429, 503] = 503
    retry_after_s: int | None = Field(default=1, ge=0)
    default_trunk: str = "default"

    def for_trunk(self, trunk: str) -> Limit:
        """The limit that governs `trunk`."""
        return self.trunks.get(trunk, self.trunk)


class Auth(FrozenModel):
    """JWT checks on the `auth` header. None credentials come from SAVG_CLIENT_ID/SECRET."""

    enabled: bool = True
    client_id: str | None = None
    client_secret: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["HS256", "HS384", "HS512"])
    enforce_jti: bool = False
    require_exp: bool = True
    leeway_s: float = Field(default=0.0, ge=0)


class SimConfig(FrozenModel):
    """Everything the simulator does; see the module docstring for units."""

    time_scale: float = Field(default=1.0, gt=0)
    seed: int | None = None
    dialect: Literal["seed", "newer", "mixed"] = "mixed"
    conversation_id: Literal["call_id", "sid", "fresh"] = "fresh"
    mix: dict[Outcome, float] = Field(default_factory=default_mix)
    scripts: Scripts = Scripts()
    ring_s: Span = Span(min=2, max=20)
    talk_s: Span = Span(min=5, max=60)
    early_fail_s: Span = Span(min=0.2, max=2)  # busy / unavailable / other failures
    amd_decision_s: Span = Span(min=1, max=4)  # answer to a human/machine AMD verdict
    default_ring_timeout_ms: int = Field(default=60_000, gt=0)  # when timeoutInMs is absent
    bot_hangup_rate: float = Field(default=0.3, ge=0, le=1)  # human calls ended by the bot
    sip_reasons: dict[Outcome, list[str]] = Field(default_factory=default_sip_reasons)
    amd_results: dict[Outcome, list[str]] = Field(default_factory=default_amd_results)
    limits: Limits = Limits()
    faults: Faults = Faults()
    signature: Signature = Signature()
    notify: Notify = Notify()
    auth: Auth = Auth()

    @field_validator("mix")
    @classmethod
    def _some_weight(cls, value: dict[Outcome, float]) -> dict[Outcome, float]:
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("weights must be >= 0 and at least one > 0")
        return value

    @model_validator(mode="after")
    def _choices_complete(self) -> SimConfig:
        for outcome in Outcome:
            table = self.amd_results if outcome.answered else self.sip_reasons
            if not table.get(outcome):
                name = "amd_results" if outcome.answered else "sip_reasons"
                raise ValueError(f"{name}.{outcome.value}: give at least one value")
        for outcome, reasons in self.sip_reasons.items():
            bad = [r for r in reasons if not (r[:3].isdigit() and r[3:4] == " ")]
            if bad:
                raise ValueError(f"sip_reasons.{outcome.value}: {bad[0]!r} is not 'NNN Text'")
        return self

    def patched(self, patch: Mapping[str, Any]) -> SimConfig:
        """A new config: this one with `patch` laid over it (see :func:`layer`)."""
        return SimConfig.model_validate(layer(self.model_dump(mode="json"), patch))


def layer(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `patch` deep-merged in, except that a given `mix` replaces the whole mix:
    `{"mix": {"busy": 1}}` means "every call is busy", not "add weight to busy"."""
    out = deep_merge(base, patch)
    if "mix" in patch:
        out["mix"] = patch["mix"]
    return out


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `patch` laid over it; nested objects merge key by key, other values replace."""
    out = dict(base)
    for key, value in patch.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(old, value)
        else:
            out[key] = value
    return out


CONFIG_FILE_ENV = "SIM_CONFIG_FILE"
CONFIG_JSON_ENV = "SIM_CONFIG"


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> SimConfig:
    """Defaults, then a JSON file (`path` or $SIM_CONFIG_FILE), then $SIM_CONFIG (a JSON patch),
    then `overrides` (e.g. `time_scale=0.001` from the command line); later layers win."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    file = path or (Path(env[CONFIG_FILE_ENV]) if env.get(CONFIG_FILE_ENV) else None)
    if file is not None:
        data = layer(data, json.loads(file.read_text(encoding="utf-8")))
    if env.get(CONFIG_JSON_ENV):
        data = layer(data, json.loads(env[CONFIG_JSON_ENV]))
    data = layer(data, {k: v for k, v in overrides.items() if v is not None})
    return SimConfig.model_validate(data)
