"""Reading and classifying SAVG notifications: the vendor's samples, the newer variants, every
quirk of docs/gateway.md §2, and fuzzing that proves junk only ever raises NotificationInvalid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign.domain.outcomes import (
    MAX_BODY_BYTES,
    STATUS_EVENT,
    Notification,
    NotifyStatus,
    OutcomeClass,
    classify,
    is_final,
    parse_notification,
)
from campaign.domain.states import AttemptEvent
from campaign.errors import NotificationInvalid

# The six bodies of savg-dialout-original.txt, with `&quot;` un-escaped.
VENDOR_SAMPLES = [
    (
        b"""{
"conversationId": "29e2d933-527e-429c-95b9-ba4f7c7bxxxx",
"reasonCode": "caller-disconnected",
"status": "completed",
"reason": "200 OK",
"duration": 14,
"machinedetection": "amd_human_detected",
"callconnecttime": "5/8/2023,11:32:49AM",
"callDisconnectTime": "5/8/2023,11:33:03AM"
}""",
        OutcomeClass.HUMAN,
    ),
    (
        b"""{
"conversationId": "29e2d933-527e-429c-95b9-ba4f7c7bxxxx",
"reasonCode": "SAVG-disconnected",
"status": "completed",
"reason": "200 OK",
"duration": 14,
"machinedetection": "amd_machine_detected",
"callconnecttime": "5/8/2023,11:32:49AM",
"callDisconnectTime": "5/8/2023,11:33:03AM"
}""",
        OutcomeClass.MACHINE,
    ),
    (
        b"""{
"conversationId": "4e010fea-cd93-47a0-a548-36d5f621xxxx",
"reasonCode": "caller-disconnected",

"status": "completed",
"reason": "200 OK",
"duration": 10,
"machinedetection": "disabled",
"callconnecttime": "5/8/2023,11:29:55AM",
"callDisconnectTime": "5/8/2023,11:30:05AM"
}""",
        OutcomeClass.HUMAN,
    ),
    (
        b"""{
"conversationId": "305ae3c4-b527-4bfd-ad75-9b6abdaaxxxx",
"status": "failed",
"reason": "503 Service Unavailable",
"machinedetection": "disconnect",
"callconnecttime": "5/8/2023,11:31:30AM",
"reasonCode": "Service Unavailable",
"callDisconnectTime": "5/8/2023,11:31:30AM"
}""",
        OutcomeClass.UNAVAILABLE,
    ),
    (
        b"""{
"conversationId": "80af8588-31c7-4877-a798-a3603c30xxxx",
"status": "failed",
"reason": "486 Busy Here",
"machinedetection": "disconnect",
"callconnecttime": "5/8/2023,11:36:33AM",
"reasonCode": "Busy Here",
"callDisconnectTime": "5/8/2023,11:36:33AM"
}""",
        OutcomeClass.BUSY,
    ),
    (
        b"""{
"conversationId": "40a95de6-949a-4403-b735-233daxxxx",
"status": "failed",
"reason": "480 Temporarily Unavailable",
"machinedetection": "disconnect",
"callconnecttime": "5/8/2023,11:37:46AM",
"reasonCode": "Temporarily Unavailable",
"callDisconnectTime": "5/8/2023,11:37:46AM"
}""",
        OutcomeClass.REJECTED,
    ),
]


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(("body", "expected"), VENDOR_SAMPLES)
def test_every_vendor_sample_is_read_and_classified(body: bytes, expected: OutcomeClass) -> None:
    notification = parse_notification(body)
    assert is_final(notification)
    assert classify(notification) is expected
    assert notification.conversation_id is not None
    assert notification.connect_time_raw is not None
    assert notification.disconnect_time_raw is not None


def test_completed_sample_keeps_every_field_as_received() -> None:
    assert parse_notification(VENDOR_SAMPLES[0][0]) == Notification(
        status=NotifyStatus.COMPLETED,
        status_raw="completed",
        conversation_id="29e2d933-527e-429c-95b9-ba4f7c7bxxxx",
        reason_code="caller-disconnected",
        reason="200 OK",
        sip_code=200,
        duration_s=14,
        amd="amd_human_detected",
        amd_raw="amd_human_detected",
        connect_time_raw="5/8/2023,11:32:49AM",
        disconnect_time_raw="5/8/2023,11:33:03AM",
    )


@pytest.mark.parametrize("mode", ["disconnect", "detect", "disabled", "DISABLED"])
def test_echoed_mode_or_disabled_is_no_amd_result(mode: str) -> None:
    notification = parse_notification(_body(status="completed", machinedetection=mode))
    assert notification.amd is None
    assert notification.amd_raw == mode
    assert classify(notification) is OutcomeClass.HUMAN


def test_newer_completed_variant_with_timings_and_table_spelling() -> None:
    notification = parse_notification(
        b'{"conversationId": "c-1", "status": "COMPLETED", "reasonCode": "KoreVG-disconnected",'
        b' "reason": "200 OK", "duration": "31", "callDuration": 31, "sessionId": "s-9",'
        b' "ringDurationInMS": 4200, "connectDurationInMS": "31000",'
        b' "callDisconnecttime": "5/8/2023,1:02:03PM", "notifyHeaders": {"x-campaign": "7"}}'
    )
    assert notification.status is NotifyStatus.COMPLETED
    assert notification.status_raw == "COMPLETED"
    assert notification.duration_s == 31
    assert (notification.ring_ms, notification.connect_ms) == (4200, 31000)
    assert notification.session_id == "s-9"
    assert notification.disconnect_time_raw == "5/8/2023,1:02:03PM"
    assert classify(notification) is OutcomeClass.HUMAN


def test_capitalised_answered_drives_answer_and_has_no_class_yet() -> None:
    notification = parse_notification(_body(status="Answered", conversationId="c-2"))
    assert notification.status is NotifyStatus.ANSWERED
    assert not is_final(notification)
    assert classify(notification) is None
    assert STATUS_EVENT[notification.status] is AttemptEvent.ANSWER


@pytest.mark.parametrize("status", ["Call-In-Progress", "call in progress", "CALL_IN_PROGRESS"])
def test_intermediate_amd_event_changes_no_state(status: str) -> None:
    notification = parse_notification(_body(status=status, machinedetection="amd_machine_detected"))
    assert notification.status is NotifyStatus.IN_PROGRESS
    assert notification.amd == "amd_machine_detected"
    assert classify(notification) is None
    assert STATUS_EVENT[notification.status] is None


def test_unrecognised_status_is_kept_as_unknown_not_rejected() -> None:
    notification = parse_notification(_body(status="ringing"))
    assert (notification.status, notification.status_raw) == (NotifyStatus.UNKNOWN, "ringing")
    assert classify(notification) is None
    assert STATUS_EVENT[notification.status] is None


def test_every_status_maps_to_an_attempt_event_or_none() -> None:
    assert set(STATUS_EVENT) == set(NotifyStatus)
    assert STATUS_EVENT[NotifyStatus.COMPLETED] is AttemptEvent.COMPLETE
    assert STATUS_EVENT[NotifyStatus.FAILED] is AttemptEvent.FAIL


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("486 Busy Here", OutcomeClass.BUSY),
        ("480 Temporarily Unavailable", OutcomeClass.REJECTED),
        ("603 Decline", OutcomeClass.REJECTED),
        ("487 Request Terminated", OutcomeClass.NO_ANSWER),
        ("408 Request Timeout", OutcomeClass.NO_ANSWER),
        ("503 Service Unavailable", OutcomeClass.UNAVAILABLE),
        ("404 Not Found", OutcomeClass.FAILED_OTHER),
        ("500 Server Internal Error", OutcomeClass.FAILED_OTHER),
    ],
)
def test_failure_class_comes_from_the_sip_code(reason: str, expected: OutcomeClass) -> None:
    notification = parse_notification(_body(status="Failed", reason=reason))
    assert notification.sip_code == int(reason[:3])
    assert classify(notification) is expected


def test_sip_code_wins_over_a_contradicting_reason_code() -> None:
    notification = parse_notification(
        _body(status="failed", reason="487 Request Terminated", reasonCode="Busy Here")
    )
    assert classify(notification) is OutcomeClass.NO_ANSWER


@pytest.mark.parametrize(
    ("reason_code", "expected"),
    [
        ("Busy here", OutcomeClass.BUSY),
        ("busy  here", OutcomeClass.BUSY),
        (" BUSY HERE ", OutcomeClass.BUSY),
        ("Temporarily Unavailable", OutcomeClass.REJECTED),
        ("service-unavailable", OutcomeClass.UNAVAILABLE),
        ("Request Terminated", OutcomeClass.NO_ANSWER),
        ("request timeout", OutcomeClass.NO_ANSWER),
        ("Not Found", OutcomeClass.FAILED_OTHER),
    ],
)
def test_without_sip_code_the_reason_code_decides(reason_code: str, expected: OutcomeClass) -> None:
    notification = parse_notification(_body(status="failed", reasonCode=reason_code))
    assert notification.sip_code is None
    assert classify(notification) is expected


def test_without_code_or_reason_code_the_reason_text_decides() -> None:
    notification = parse_notification(_body(status="failed", reason="Busy Here"))
    assert classify(notification) is OutcomeClass.BUSY


def test_failure_with_nothing_to_go_on_is_failed_other() -> None:
    assert classify(parse_notification(_body(status="failed"))) is OutcomeClass.FAILED_OTHER


@pytest.mark.parametrize("reason", ["4860 odd", "48 short", "OK 486", "999 Nonsense"])
def test_sip_code_is_only_three_leading_digits_of_a_sip_range(reason: str) -> None:
    assert parse_notification(_body(status="failed", reason=reason)).sip_code is None


@pytest.mark.parametrize(
    ("amd", "expected"),
    [
        ("amd_human_detected", OutcomeClass.HUMAN),
        ("amd_machine_detected", OutcomeClass.MACHINE),
        ("amd_machine_stopped_speaking", OutcomeClass.MACHINE),
        ("amd_tone_detected", OutcomeClass.MACHINE),
        ("amd_no_speech_detected", OutcomeClass.NO_SPEECH),
        ("amd_decision_timeout", OutcomeClass.UNDECIDED),
        ("amd_error", OutcomeClass.UNDECIDED),
        ("amd_stopped", OutcomeClass.UNDECIDED),
        ("AMD Machine Detected", OutcomeClass.MACHINE),
        ("amd_fax_detected", OutcomeClass.UNDECIDED),
    ],
)
def test_completed_call_is_classified_by_its_amd_result(amd: str, expected: OutcomeClass) -> None:
    notification = parse_notification(_body(status="completed", machinedetection=amd))
    assert classify(notification) is expected


def test_amd_result_is_ignored_when_the_campaign_disabled_amd() -> None:
    notification = parse_notification(
        _body(status="completed", machinedetection="amd_machine_detected")
    )
    assert classify(notification, amd_enabled=False) is OutcomeClass.HUMAN


def test_completed_without_amd_field_is_human() -> None:
    assert classify(parse_notification(_body(status="completed"))) is OutcomeClass.HUMAN


def test_key_names_are_case_insensitive() -> None:
    notification = parse_notification(
        _body(STATUS="Failed", REASONCODE="Busy Here", ConversationID="c-3", DURATION=0)
    )
    assert notification.conversation_id == "c-3"
    assert notification.duration_s == 0
    assert classify(notification) is OutcomeClass.BUSY


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (14, 14),
        (14.4, 14),
        ("14", 14),
        (" 14 ", 14),
        ("14.6", 15),
        ("14s", None),
        ("1_000", None),
        ("nan", None),
        ("", None),
        (-1, None),
        (True, None),
        (10**12, None),
        ([14], None),
        (None, None),
    ],
)
def test_duration_accepts_numbers_and_numeric_strings_only(
    duration: Any, expected: int | None
) -> None:
    assert parse_notification({"status": "completed", "duration": duration}).duration_s == expected


def test_body_from_a_mapping_bytes_or_text_reads_the_same() -> None:
    fields = {"status": "failed", "reason": "486 Busy Here"}
    raw = json.dumps(fields)
    assert parse_notification(fields) == parse_notification(raw) == parse_notification(raw.encode())


def test_utf8_byte_order_mark_is_tolerated() -> None:
    assert parse_notification(b"\xef\xbb\xbf" + _body(status="answered")).status_raw == "answered"


def test_text_fields_are_made_storable() -> None:
    notification = parse_notification(
        '{"status": " completed\\u0000 ", "reason": "\\ud800200 OK", "sessionId": "'
        + "x" * 999
        + '"}'
    )
    assert notification.status is NotifyStatus.COMPLETED
    assert notification.reason == "?200 OK"
    assert notification.session_id == "x" * 256


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "JSON object, got an array"),
        (b"null", "JSON object, got null"),
        (b'"completed"', "JSON object, got a string"),
        (b"[" * 10_000 + b"]" * 10_000, "nested too deeply"),
        (b"{}", "no usable 'status'"),
        (b'{"reason": "486 Busy Here"}', "no usable 'status'"),
        (b'{"status": 5}', "no usable 'status'"),
        (b'{"status": "   "}', "no usable 'status'"),
        (b" " * (MAX_BODY_BYTES + 1), "at most"),
    ],
)
def test_unreadable_bodies_raise_notification_invalid(body: bytes, message: str) -> None:
    with pytest.raises(NotificationInvalid, match=message):
        parse_notification(body)


def test_a_body_of_the_wrong_type_raises_notification_invalid() -> None:
    with pytest.raises(NotificationInvalid, match="bytes, text or a mapping"):
        parse_notification(42)  # type: ignore[arg-type]


# ---- fuzzing: whatever arrives, only NotificationInvalid may come out ----

FUZZ = settings(max_examples=100, deadline=None, database=None)
KNOWN_KEYS = [
    "status",
    "conversationId",
    "reasonCode",
    "reason",
    "duration",
    "machinedetection",
    "callconnecttime",
    "callDisconnectTime",
    "sessionId",
    "ringDurationInMS",
    "connectDurationInMS",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
junk_values = json_values | st.sampled_from(
    ["completed", "FAILED", "486 Busy Here", "amd_error", "14", "-3", "1e999", "Call-In-Progress"]
)
known_key_dicts = st.dictionaries(
    st.sampled_from(KNOWN_KEYS).flatmap(
        lambda key: st.sampled_from([key, key.lower(), key.upper()])
    ),
    junk_values,
    max_size=len(KNOWN_KEYS),
)


def _read_or_refuse(body: bytes | str | dict[str, Any]) -> None:
    """Parse, and when it succeeds, prove the result is safe to store and to classify."""
    try:
        notification = parse_notification(body)
    except NotificationInvalid:
        return
    for value in (
        notification.status_raw,
        notification.conversation_id,
        notification.reason_code,
        notification.reason,
        notification.amd_raw,
        notification.connect_time_raw,
        notification.disconnect_time_raw,
        notification.session_id,
    ):
        if value is not None:
            assert 0 < len(value) <= 256
            assert "\x00" not in value
            value.encode("utf-8")
    assert (classify(notification) is None) == (not is_final(notification))
    assert notification.status in STATUS_EVENT


@FUZZ
@given(json_values)
def test_any_json_value_reads_or_raises_notification_invalid(value: object) -> None:
    _read_or_refuse(json.dumps(value))


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_read_or_raise_notification_invalid(body: bytes) -> None:
    _read_or_refuse(body)


@FUZZ
@given(st.text(max_size=200))
def test_any_text_reads_or_raises_notification_invalid(body: str) -> None:
    _read_or_refuse(body)


@FUZZ
@given(known_key_dicts)
def test_known_keys_with_junk_values_read_or_raise_notification_invalid(
    fields: dict[str, Any],
) -> None:
    _read_or_refuse(fields)
    _read_or_refuse(json.dumps(fields).encode())
