"""The simulated gateway: admits or refuses a dial-out, places the call, and plays it out in time.

Everything runs on the event loop thread, so each decision (auth, limits, placement, counters,
records) happens atomically between two awaits. A placed call is driven by a handful of
`loop.call_later` timers (answer, AMD event, end, delayed fault copies): no task sleeps per call.
Each call keeps the config that was in force when it was placed; a reset cancels every timer, so
nothing from before a reset is posted after it.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from campaign.simulator.auth import AuthRefused, Credentials, JwtVerifier
from campaign.simulator.config import SimConfig
from campaign.simulator.gate import Gate
from campaign.simulator.notifier import Notifier
from campaign.simulator.payloads import Kind, pick_newer, render
from campaign.simulator.planner import plan_call
from campaign.simulator.records import CallRecord, NotificationRecord, Recorder
from campaign.simulator.request import BadRequest, DialRequest, parse_dial_request


@dataclass(frozen=True, slots=True)
class Answer:
    """What the HTTP layer does: answer `status`/`body` after `delay_s`, or reset the connection."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    reset: bool = False


class Switchboard:
    """Owns the config, the records, the limits' counters and every live call's timers."""

    def __init__(self, config: SimConfig, credentials: Credentials) -> None:
        self.credentials = credentials
        self.config = self._checked(config)
        self.recorder = Recorder()
        self.notifier: Notifier | None = None  # attached by the app once its loop runs
        self._gate = Gate()
        self._jwt = JwtVerifier()
        self._rng = random.Random(config.seed)
        self._burst_until = 0.0
        self._timers: dict[str, set[asyncio.TimerHandle]] = {}

    @property
    def pending_events(self) -> int:
        """Timers still to fire: answers, AMD events, ends, delayed duplicates and reorders."""
        return sum(len(handles) for handles in self._timers.values())

    def configure(self, config: SimConfig) -> None:
        """Replace the config for calls placed from now on; a given `seed` restarts the dice."""
        self.config = self._checked(config)
        if config.seed is not None:
            self._rng.seed(config.seed)

    def reset(self) -> None:
        """Clear records and counters and cancel every pending event of every call."""
        for handles in self._timers.values():
            for handle in handles:
                handle.cancel()
        self._timers.clear()
        self.recorder = Recorder()
        self._gate.reset()
        self._jwt.reset()
        self._burst_until = 0.0
        self._rng.seed(self.config.seed)

    def dial(self, bot: str, token: str | None, raw: bytes) -> Answer:
        """Decide one dial-out request, in the order a real gateway would check it."""
        cfg, now = self.config, time.time()
        if cfg.auth.enabled:
            try:
                self._jwt.verify(token, cfg.auth, self.credentials, now)
            except AuthRefused as exc:
                return self._refuse(401, exc.reason, str(exc), None)
        try:
            request = parse_dial_request(bot, raw, cfg.limits.default_trunk)
        except BadRequest as exc:
            return self._refuse(400, "invalid_body", str(exc), None)
        burst = cfg.faults.burst_5xx
        if now < self._burst_until:
            return self._refuse(burst.status, "burst_5xx", "gateway error", request.target)
        if self._roll(burst.rate):
            # A burst starts on a roll and lasts its duration; requests inside it do not prolong
            # it, so "500s for 20 s, then healthy" ends on time however often the client retries.
            self._burst_until = now + burst.duration_ms / 1000
            return self._refuse(burst.status, "burst_5xx", "gateway error", request.target)
        refusal = self._gate.refusal(request.trunk, cfg.limits, now)
        if refusal is not None:
            retry = cfg.limits.retry_after_s
            headers = {} if retry is None else {"Retry-After": str(retry)}
            message = f"Maximum Calls In Progress ({refusal})"
            status = cfg.limits.refusal_status
            return self._refuse(status, refusal, message, request.target, headers)
        reset = cfg.faults.connection_reset
        if self._roll(reset.rate):
            if not self._roll(reset.placed_ratio):
                self.recorder.refused("connection_reset", 0, request.target)
                return Answer(0, None, reset=True)
            self._place(request, cfg, now).faults.append("connection_reset")
            return Answer(0, None, reset=True)
        call = self._place(request, cfg, now)
        self.recorder.accepted += 1
        delay = 0.0
        if self._roll(cfg.faults.slow_answer.rate):
            call.faults.append("slow_answer")
            delay = cfg.faults.slow_answer.delay_ms / 1000
        return Answer(200, {"sid": call.sid, "callId": call.call_id}, delay_s=delay)

    def _checked(self, config: SimConfig) -> SimConfig:
        if config.signature.enabled and not (
            config.signature.secret or self.credentials.webhook_secret
        ):
            raise ValueError("signature.enabled needs signature.secret or SAVG_WEBHOOK_SECRET")
        return config

    def _refuse(
        self,
        status: int,
        reason: str,
        message: str,
        target: str | None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        self.recorder.refused(reason, status, target)
        body = {"errors": [{"msg": message, "code": status}], "reason": reason}
        return Answer(status, body, headers or {})

    def _roll(self, rate: float) -> bool:
        # A zero rate draws nothing, so switching a fault off leaves the outcome dice unchanged.
        return rate > 0 and (rate >= 1 or self._rng.random() < rate)

    def _place(self, request: DialRequest, cfg: SimConfig, now: float) -> CallRecord:
        nth = self.recorder.calls_per_number[request.number]
        plan = plan_call(request, cfg, self._rng, nth)
        sid, call_id = str(uuid.uuid4()), str(uuid.uuid4())
        ids = {"sid": sid, "call_id": call_id}
        conversation = ids.get(cfg.conversation_id) or str(uuid.uuid4())
        call = CallRecord(sid, call_id, conversation, request, plan, placed_at=now)
        if plan.answer_s is not None and self._roll(cfg.faults.reorder.rate):
            call.faults.append("reorder")
        if self._roll(cfg.faults.lose_final.rate):
            call.faults.append("lose_final")
        self.recorder.placed(call)
        self._gate.placed(request.trunk, now)
        if plan.answer_s is None:
            self._after(call, plan.end_s * cfg.time_scale, partial(self._ended, call, cfg))
            self._bot_disposes(call, cfg)
        else:
            self._after(call, plan.answer_s * cfg.time_scale, partial(self._answered, call, cfg))
        return call

    def _after(self, call: CallRecord, delay_s: float, callback: Callable[[], None]) -> None:
        handles = self._timers.setdefault(call.sid, set())

        def fire() -> None:
            handles.discard(handle)
            if not handles:
                self._timers.pop(call.sid, None)
            callback()

        handle = asyncio.get_running_loop().call_later(delay_s, fire)
        handles.add(handle)

    def _answered(self, call: CallRecord, cfg: SimConfig) -> None:
        call.answered_at = time.time()
        plan, scale = call.plan, cfg.time_scale
        answer_s = plan.answer_s or 0.0
        if "reorder" not in call.faults:
            self._notify(call, "answered", cfg)
        if plan.amd_s is not None and call.request.amd_events:
            self._after(call, (plan.amd_s - answer_s) * scale, partial(self._progress, call, cfg))
        self._after(call, (plan.end_s - answer_s) * scale, partial(self._ended, call, cfg))
        self._bot_disposes(call, cfg)

    def _bot_disposes(self, call: CallRecord, cfg: SimConfig) -> None:
        """Schedule the scripted disposition, `at_s` from now (the answer, or the placement)."""
        if call.plan.disposition is not None:
            delay = call.plan.disposition.at_s * cfg.time_scale
            self._after(call, delay, partial(self._dispose, call, cfg))

    def _dispose(self, call: CallRecord, cfg: SimConfig) -> None:
        """Post the scripted disposition to the URL the dial-out's metadata carries."""
        scripted = call.plan.disposition
        if scripted is None:  # pragma: no cover - scheduled only with one
            return
        note = NotificationRecord("disposition", dict(scripted.body), time.time())
        call.dispositions.append(note)
        ours = call.request.metadata.get("campaign")
        url = ours.get("disposition_url") if isinstance(ours, dict) else None
        if not isinstance(url, str) or self.notifier is None:
            note.error, note.done = "no metadata.campaign.disposition_url in the dial-out", True
            return
        self.notifier.post(url, {}, note, cfg, None)

    def _progress(self, call: CallRecord, cfg: SimConfig) -> None:
        self._notify(call, "progress", cfg)

    def _ended(self, call: CallRecord, cfg: SimConfig) -> None:
        call.ended_at = time.time()
        self._gate.ended(call.request.trunk)
        self._notify(call, "final", cfg, lost="lose_final" in call.faults)
        if "reorder" in call.faults:
            late = partial(self._notify, call, "answered", cfg)
            self._after(call, cfg.faults.reorder.delay_ms / 1000, late)

    def _notify(self, call: CallRecord, kind: Kind, cfg: SimConfig, *, lost: bool = False) -> None:
        if call.request.notifyurl is None:
            return
        newer = pick_newer(cfg.dialect, self._rng)
        if kind == "progress" and not newer:
            return  # the seed dialect has no intermediate AMD events
        body = render(
            kind,
            plan=call.plan,
            request=call.request,
            conversation_id=call.conversation_id,
            session_id=call.sid,
            placed_at=call.placed_at,
            newer=newer,
        )
        note = NotificationRecord(body["status"], body, time.time(), lost=lost)
        call.notifications.append(note)
        if lost:
            return
        self._send(call, note, cfg)
        if self._roll(cfg.faults.duplicate.rate):
            copy = partial(self._send_copy, call, note, cfg)
            self._after(call, cfg.faults.duplicate.delay_ms / 1000, copy)

    def _send_copy(self, call: CallRecord, note: NotificationRecord, cfg: SimConfig) -> None:
        copy = NotificationRecord(note.status, note.body, time.time(), duplicate=True)
        call.notifications.append(copy)
        self._send(call, copy, cfg)

    def _send(self, call: CallRecord, note: NotificationRecord, cfg: SimConfig) -> None:
        if self.notifier is None or call.request.notifyurl is None:
            raise RuntimeError("notifications need the app's notifier (started by its lifespan)")
        secret = None
        if cfg.signature.enabled:
            secret = cfg.signature.secret or self.credentials.webhook_secret
        self.notifier.post(call.request.notifyurl, call.request.notify_headers, note, cfg, secret)
