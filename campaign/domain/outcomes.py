"""SAVG status notifications: read a body from the wire, then say how the call ended.

The reading follows `docs/gateway.md` §2 and its quirks: key names are case-insensitive
(`callDisconnecttime` is `callDisconnectTime`); status, reasonCode and machinedetection compare
case- and separator-insensitively (`Busy Here` = `busy  here`, `Call-In-Progress` =
`call in progress`); `duration` may be a number or a numeric string; timestamps carry no zone
and are kept as received; a `machinedetection` that is not `amd_*` (`disabled`, an echoed mode
such as `disconnect`) means "no AMD result". Unknown fields are ignored, known ones are optional
except `status`.

A body is untrusted input: `parse_notification` returns a `Notification` or raises
`NotificationInvalid`, never anything else, and every text it keeps is short, valid UTF-8 and
free of NUL, so it can be stored as is. The classes are those of §3.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from campaign.domain.states import AttemptEvent
from campaign.errors import NotificationInvalid

MAX_BODY_BYTES: Final = 64 * 1024
"""Larger bodies are refused unread; real notifications are well under 2 KiB."""

_MAX_TEXT_CHARS: Final = 256
_MAX_DURATION_S: Final = 7 * 86_400  # beyond a week the value is junk, not a call
_MAX_MS: Final = _MAX_DURATION_S * 1000


class OutcomeClass(StrEnum):
    """How an attempt ended, in the terms retry policies are written in (docs/gateway.md §3).
    `gateway_error` and `lost` come from the dial path and the sweeper, never from a body."""

    BUSY = "busy"
    REJECTED = "rejected"
    NO_ANSWER = "no_answer"
    UNAVAILABLE = "unavailable"
    FAILED_OTHER = "failed_other"
    HUMAN = "human"
    MACHINE = "machine"
    NO_SPEECH = "no_speech"
    UNDECIDED = "undecided"
    GATEWAY_ERROR = "gateway_error"
    LOST = "lost"


class NotifyStatus(StrEnum):
    """The `status` of a notification. A status we cannot read is `unknown`, not an error: the
    body is kept, and the attempt waits for a final or its deadline."""

    ANSWERED = "answered"
    COMPLETED = "completed"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification as read. `*_raw` fields are the received text (stripped); `sip_code` is
    the three leading digits of `reason`, the most reliable field; `amd` is a normalised `amd_*`
    value or None when no AMD result was given. A count that is missing, negative, absurdly large
    or not a number is None rather than an error: the status still counts."""

    status: NotifyStatus
    status_raw: str
    conversation_id: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    sip_code: int | None = None
    duration_s: int | None = None
    amd: str | None = None
    amd_raw: str | None = None
    connect_time_raw: str | None = None
    disconnect_time_raw: str | None = None
    session_id: str | None = None
    ring_ms: int | None = None
    connect_ms: int | None = None


_SEPARATORS = re.compile(r"[\s_-]+")
_DECIMAL = re.compile(r"\d{1,15}(?:\.\d{1,9})?")
_SIP_CODE = re.compile(r"([1-6]\d\d)(?!\d)")
_KNOWN_KEYS: Final = frozenset(
    {
        "status",
        "conversationid",
        "reasoncode",
        "reason",
        "duration",
        "machinedetection",
        "callconnecttime",
        "calldisconnecttime",
        "sessionid",
        "ringdurationinms",
        "connectdurationinms",
    }
)
_STATUSES: Final = MappingProxyType(
    {
        "answered": NotifyStatus.ANSWERED,
        "completed": NotifyStatus.COMPLETED,
        "failed": NotifyStatus.FAILED,
        "call in progress": NotifyStatus.IN_PROGRESS,
    }
)
_JSON_KINDS: Final = MappingProxyType(
    {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
)


def parse_notification(body: bytes | str | Mapping[str, object]) -> Notification:
    """Read one notification body (raw bytes, text, or an already decoded object).

    Raises `NotificationInvalid` when the body is not a JSON object or has no non-empty string
    `status`; a junk value in any other field only leaves that field None.
    """
    fields = _known_fields(_decode(body))
    status_raw = _text(fields.get("status"))
    if status_raw is None:
        raise NotificationInvalid(
            "notification has no usable 'status': expected a non-empty string such as "
            "'answered', 'completed' or 'failed'"
        )
    reason = _text(fields.get("reason"))
    sip = _SIP_CODE.match(reason) if reason else None
    amd_raw = _text(fields.get("machinedetection"))
    amd = _normalise(amd_raw).replace(" ", "_") if amd_raw else None
    return Notification(
        status=_STATUSES.get(_normalise(status_raw), NotifyStatus.UNKNOWN),
        status_raw=status_raw,
        conversation_id=_text(fields.get("conversationid")),
        reason_code=_text(fields.get("reasoncode")),
        reason=reason,
        sip_code=int(sip.group(1)) if sip else None,
        duration_s=_whole(fields.get("duration"), _MAX_DURATION_S),
        amd=amd if amd and amd.startswith("amd_") else None,
        amd_raw=amd_raw,
        connect_time_raw=_text(fields.get("callconnecttime")),
        disconnect_time_raw=_text(fields.get("calldisconnecttime")),
        session_id=_text(fields.get("sessionid")),
        ring_ms=_whole(fields.get("ringdurationinms"), _MAX_MS),
        connect_ms=_whole(fields.get("connectdurationinms"), _MAX_MS),
    )


def _decode(body: object) -> Mapping[object, object]:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, bytes | bytearray):
        _check_size(len(body))
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise NotificationInvalid(f"notification body is not UTF-8 text: {exc}") from None
    elif isinstance(body, str):
        _check_size(len(body))
        text = body.removeprefix("\ufeff")
    else:
        raise NotificationInvalid(
            f"notification body must be bytes, text or a mapping, not {type(body).__name__}"
        )
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise NotificationInvalid(f"notification body is not JSON: {exc}") from None
    except RecursionError:
        raise NotificationInvalid("notification body is nested too deeply to read") from None
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "null")
        raise NotificationInvalid(f"notification body must be a JSON object, got {kind}")
    return value


def _check_size(size: int) -> None:
    if size > MAX_BODY_BYTES:
        raise NotificationInvalid(
            f"notification body is {size} bytes; at most {MAX_BODY_BYTES} are read"
        )


def _known_fields(obj: Mapping[object, object]) -> dict[str, object]:
    """Known fields under lower-cased keys; of two spellings of one key, the later wins, as a
    repeated key does in JSON."""
    fields: dict[str, object] = {}
    for key, value in obj.items():
        if isinstance(key, str) and (folded := key.lower()) in _KNOWN_KEYS:
            fields[folded] = value
    return fields


def _text(value: object) -> str | None:
    """A stripped, bounded string that PostgreSQL can store (no NUL, no lone surrogate)."""
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()[:_MAX_TEXT_CHARS]
    return value.encode("utf-8", "replace").decode("utf-8") or None


def _whole(value: object, upper: int) -> int | None:
    """A count from an int, a finite float or a plain decimal string, rounded; None otherwise."""
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, float) and math.isfinite(value):
        value = round(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= upper:
        return value
    return None


def _normalise(value: str) -> str:
    return _SEPARATORS.sub(" ", value).strip().lower()


def is_final(notification: Notification) -> bool:
    """Completed and failed end a call; answered and in-progress events do not."""
    return notification.status in (NotifyStatus.COMPLETED, NotifyStatus.FAILED)


_SIP_CLASSES: Final = MappingProxyType(
    {
        486: OutcomeClass.BUSY,
        480: OutcomeClass.REJECTED,
        603: OutcomeClass.REJECTED,
        487: OutcomeClass.NO_ANSWER,
        408: OutcomeClass.NO_ANSWER,
        503: OutcomeClass.UNAVAILABLE,
    }
)
_REASON_CLASSES: Final = MappingProxyType(
    {
        "busy here": OutcomeClass.BUSY,
        "temporarily unavailable": OutcomeClass.REJECTED,
        "decline": OutcomeClass.REJECTED,
        "service unavailable": OutcomeClass.UNAVAILABLE,
        "request terminated": OutcomeClass.NO_ANSWER,
        "request timeout": OutcomeClass.NO_ANSWER,
    }
)
_AMD_CLASSES: Final = MappingProxyType(
    {
        "amd_human_detected": OutcomeClass.HUMAN,
        "amd_machine_detected": OutcomeClass.MACHINE,
        "amd_machine_stopped_speaking": OutcomeClass.MACHINE,
        "amd_tone_detected": OutcomeClass.MACHINE,
        "amd_no_speech_detected": OutcomeClass.NO_SPEECH,
        "amd_decision_timeout": OutcomeClass.UNDECIDED,
        "amd_error": OutcomeClass.UNDECIDED,
        "amd_stopped": OutcomeClass.UNDECIDED,
    }
)


def classify(notification: Notification, *, amd_enabled: bool = True) -> OutcomeClass | None:
    """The outcome class of a final notification; None for answered, in-progress and unknown.

    A failure is read from the SIP code when `reason` carries one, else from reasonCode (then
    the reason text). A completed call is `human` unless AMD ran and said otherwise: with
    `amd_enabled` false any AMD value is ignored, and an `amd_*` value we do not know counts as
    `undecided` rather than guessing either way.
    """
    if notification.status is NotifyStatus.FAILED:
        return _failure_class(notification)
    if notification.status is not NotifyStatus.COMPLETED:
        return None
    if not amd_enabled or notification.amd is None:
        return OutcomeClass.HUMAN
    return _AMD_CLASSES.get(notification.amd, OutcomeClass.UNDECIDED)


def _failure_class(notification: Notification) -> OutcomeClass:
    if notification.sip_code is not None:
        return _SIP_CLASSES.get(notification.sip_code, OutcomeClass.FAILED_OTHER)
    for text in (notification.reason_code, notification.reason):
        if text and (found := _REASON_CLASSES.get(_normalise(text))):
            return found
    return OutcomeClass.FAILED_OTHER


STATUS_EVENT: Final[Mapping[NotifyStatus, AttemptEvent | None]] = MappingProxyType(
    {
        NotifyStatus.ANSWERED: AttemptEvent.ANSWER,
        NotifyStatus.COMPLETED: AttemptEvent.COMPLETE,
        NotifyStatus.FAILED: AttemptEvent.FAIL,
        NotifyStatus.IN_PROGRESS: None,
        NotifyStatus.UNKNOWN: None,
    }
)
"""The attempt event each status drives; None: store the body, change no state."""
