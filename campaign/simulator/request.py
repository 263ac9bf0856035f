"""The dial-out body read the way SAVG documents it, refusing what a real gateway would refuse.

Both spellings of the AMD mode are accepted (`machineDetection` as in the vendor's sample wins over
the table's `machinedetection`); unknown fields are ignored, as the sample's stray `bot` shows the
gateway tolerates extras.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from campaign.simulator.numbers import number_key, valid_target

AMD_MODES = frozenset({"disconnect", "detect", "disabled"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_TIMER_DEFAULTS_MS = {
    "noSpeechTimeoutMs": 5000,
    "decisionTimeoutMs": 15000,
    "toneTimeoutMs": 20000,
    "greetingCompletionTimeoutMs": 2000,
}


class BadRequest(ValueError):
    """The body breaks the contract; the message names the field and the problem."""


@dataclass(frozen=True, slots=True)
class DialRequest:
    """One accepted dial-out, with the documented defaults filled in."""

    bot: str
    target: str
    number: str
    caller: str
    trunk: str
    notifyurl: str | None
    machine_detection: str
    timers_ms: dict[str, int]
    ring_timeout_ms: int | None
    amd_events: bool
    notify_headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def amd_on(self) -> bool:
        """Whether the gateway runs answering-machine detection on this call."""
        return self.machine_detection != "disabled"


def parse_dial_request(bot: str, raw: bytes, default_trunk: str) -> DialRequest:
    """Validate `raw` (the HTTP body) or raise :class:`BadRequest` naming the first problem."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    target = _required_str(body, "target")
    if not valid_target(target):
        raise BadRequest(f"target: {target!r} is not tel:<country code + digits> or sip:user@host")
    caller = _required_str(body, "caller")
    notifyurl = _optional_str(body, "notifyurl")
    if notifyurl is not None:
        parts = urlsplit(notifyurl)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequest(f"notifyurl: {notifyurl!r} is not an absolute http(s) URL")
    mode = body.get("machineDetection", body.get("machinedetection", "disabled"))
    if mode not in AMD_MODES:
        raise BadRequest(f"machineDetection: {mode!r} is not one of disconnect, detect, disabled")
    subscription = body.get("amdEventsSubscription")
    if subscription is not None and not isinstance(subscription, list):
        raise BadRequest("amdEventsSubscription: must be a list")
    return DialRequest(
        bot=bot,
        target=target,
        number=number_key(target),
        caller=caller,
        trunk=_optional_str(body, "trunk") or default_trunk,
        notifyurl=notifyurl,
        machine_detection=mode,
        timers_ms=_timers(body.get("timers")),
        ring_timeout_ms=_positive_int(body, "timeoutInMs"),
        amd_events=subscription != [],
        notify_headers=_headers(body.get("notifyHeaders")),
        metadata=_object(body, "metadata"),
    )


def _required_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise BadRequest(f"{name}: required")
    if not isinstance(value, str):
        raise BadRequest(f"{name}: must be a string")
    return value


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name}: must be a string")
    return value or None


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{name}: must be an object")
    return value


def _positive_int(body: dict[str, Any], name: str, path: str = "") -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"{path}{name}: must be a positive integer (milliseconds)")
    return int(value)


def _timers(value: object) -> dict[str, int]:
    if value is None:
        return dict(_TIMER_DEFAULTS_MS)
    if not isinstance(value, dict):
        raise BadRequest("timers: must be an object")
    timers = dict(_TIMER_DEFAULTS_MS)
    for name in _TIMER_DEFAULTS_MS:
        if name in value:
            timers[name] = _positive_int(value, name, "timers.") or timers[name]
    return timers


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("notifyHeaders: must be an object of header name to string value")
    for name, item in value.items():
        if not _HEADER_NAME.match(name) or not isinstance(item, str) or "\n" in item:
            raise BadRequest(f"notifyHeaders: {name!r} is not a header name with a string value")
    return dict(value)
