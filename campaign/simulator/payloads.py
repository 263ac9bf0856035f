"""Notification bodies in the vendor's two dialects, so clients are tested against both.

`seed` is exactly the shapes of the vendor page: lower-case statuses, `caller-disconnected`,
`SAVG-disconnected`, integer `duration`, `callDisconnectTime`. `newer` is what later vendor docs
show: capitalised statuses, `Call-In-Progress` AMD events, `KoreVG-disconnected`, `Busy here`-style
casing, `duration` as a string, the table's `callDisconnecttime` spelling, and the extra fields
`callDuration`, `ringDurationInMS`, `connectDurationInMS`, `sessionId`. In both, a failed call
echoes the configured AMD mode in `machinedetection`, as the seed's samples do.

Timestamps follow the simulated timeline anchored at the real placement time (UTC, no zone, as the
vendor sends them), so `callDisconnectTime - callconnecttime == duration` even when `time_scale`
squeezes a minute-long call into milliseconds.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any, Literal

from campaign.simulator.planner import CallPlan
from campaign.simulator.request import DialRequest

Kind = Literal["answered", "progress", "final"]

_ENDED_BY = {
    ("caller", False): "caller-disconnected",
    ("caller", True): "Caller-disconnected",
    ("bot", False): "Bot-disconnected",
    ("bot", True): "Bot-disconnected",
    ("gateway", False): "SAVG-disconnected",
    ("gateway", True): "KoreVG-disconnected",
}


def pick_newer(dialect: str, rng: random.Random) -> bool:
    """Whether the next notification speaks the newer dialect; `mixed` flips a coin each time."""
    if dialect == "mixed":
        return rng.random() < 0.5
    return dialect == "newer"


def format_time(epoch: float) -> str:
    """`M/D/YYYY,h:mm:ssAM`, the vendor's zone-less format (written in UTC)."""
    at = datetime.fromtimestamp(epoch, UTC)
    hour = at.hour % 12 or 12
    half = "AM" if at.hour < 12 else "PM"
    return f"{at.month}/{at.day}/{at.year},{hour}:{at.minute:02d}:{at.second:02d}{half}"


def render(
    kind: Kind,
    *,
    plan: CallPlan,
    request: DialRequest,
    conversation_id: str,
    session_id: str,
    placed_at: float,
    newer: bool,
) -> dict[str, Any]:
    """The JSON body SAVG posts for one event of a call."""
    status = {"answered": "answered", "progress": "Call-In-Progress", "final": ""}[kind]
    if kind == "final":
        status = "completed" if plan.answer_s is not None else "failed"
    if newer:
        status = status[0].upper() + status[1:]
    body: dict[str, Any] = {"conversationId": conversation_id, "status": status}
    connect_at = placed_at + (plan.answer_s if plan.answer_s is not None else plan.end_s)
    if kind == "answered":
        body["reason"] = plan.reason
        body["callconnecttime"] = format_time(connect_at)
    elif kind == "progress":
        body["machinedetection"] = plan.amd
        body["callconnecttime"] = format_time(connect_at)
    else:
        body.update(_final_fields(plan, request, connect_at, placed_at, newer))
    if newer:
        body["sessionId"] = session_id
        if kind != "progress":
            body["ringDurationInMS"] = round((plan.answer_s or plan.end_s) * 1000)
    return body


def _final_fields(
    plan: CallPlan, request: DialRequest, connect_at: float, placed_at: float, newer: bool
) -> dict[str, Any]:
    duration = round(plan.talk_s)
    end_key = "callDisconnecttime" if newer else "callDisconnectTime"
    fields: dict[str, Any] = {
        "reason": plan.reason,
        "callconnecttime": format_time(connect_at),
        end_key: format_time(placed_at + plan.end_s),
    }
    if plan.answer_s is None:
        text = plan.reason[4:]
        fields["reasonCode"] = text[0] + text[1:].lower() if newer else text
        fields["machinedetection"] = request.machine_detection
        return fields
    fields["reasonCode"] = _ENDED_BY[(plan.ended_by, newer)]
    fields["machinedetection"] = plan.amd or "disabled"
    fields["duration"] = str(duration) if newer else duration
    if newer:
        fields["callDuration"] = duration
        fields["connectDurationInMS"] = round(plan.talk_s * 1000)
    return fields
