"""Events to the CRM: the spec block, the body and its signature, the retry schedule, settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from campaign import production
from campaign.domain import event_delivery as rules
from campaign.domain.events_spec import EVENT_TYPES, MIN_SECRET_BYTES, EventsSpec
from campaign.domain.spec import parse_spec
from campaign.errors import InvalidInput, SpecInvalid
from campaign.settings import load_settings

SECRET = "s" * 32
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BASE = {"name": "c", "gateway": {"bot": "b", "caller": "+15550001111"}}


def _spec(events: object) -> Any:
    return parse_spec({**BASE, "events": events})


def test_events_block_defaults_to_every_type_and_round_trips() -> None:
    spec = _spec({"url": "https://crm.example/hook", "secret": SECRET})

    assert spec.events == EventsSpec("https://crm.example/hook", SECRET, EVENT_TYPES)
    assert parse_spec(spec.to_dict()) == spec


def test_a_spec_without_events_echoes_no_events_key() -> None:
    assert "events" not in parse_spec(BASE).to_dict()


def test_types_are_a_subset_kept_in_declared_order() -> None:
    spec = _spec(
        {"url": "http://h/x", "secret": SECRET, "types": ["campaign.state", "attempt.ended"]}
    )

    assert spec.events.types == ("attempt.ended", "campaign.state")
    assert not spec.events.wants("contact.closed")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"url": "ftp://h/x", "secret": SECRET}, "events.url: "),
        ({"url": "https:///nohost", "secret": SECRET}, "events.url: "),
        (
            {"url": "https://h/x", "secret": "short"},
            "events.secret: must be a string of at least 32",
        ),
        (
            {"url": "https://h/x", "secret": SECRET, "types": ["call.ended"]},
            "events.types: call.ended",
        ),
        (
            {"url": "https://h/x", "secret": SECRET, "types": []},
            "events.types: must be a non-empty",
        ),
        ({"url": "https://h/x", "secret": SECRET, "retries": 3}, "events.retries: unknown key"),
        ("https://h/x", "events: must be a mapping"),
    ],
)
def test_a_bad_events_block_is_refused_naming_the_field(block: object, message: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        _spec(block)
    assert any(e.startswith(message) for e in caught.value.errors), caught.value.errors


def test_the_events_secret_floor_is_the_engines_own_secret_floor() -> None:
    assert MIN_SECRET_BYTES == production.OWN_SECRET_BYTES


def test_the_body_is_compact_json_with_the_four_contract_keys() -> None:
    raw = rules.body("e-1", "contact.closed", T0, {"state": "done"})

    assert json.loads(raw) == {
        "id": "e-1",
        "type": "contact.closed",
        "created_at": "2026-12-01T09:00:00.000+00:00",
        "data": {"state": "done"},
    }
    assert b" " not in raw


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    raw = b'{"id":"x"}'
    expected = hmac.new(SECRET.encode(), b"1764579600." + raw, hashlib.sha256).hexdigest()

    assert rules.sign(SECRET, raw, 1764579600) == f"t=1764579600,v1={expected}"


def test_an_empty_secret_never_signs() -> None:
    with pytest.raises(ValueError, match="empty"):
        rules.sign("", b"{}", 1)


def _doc_verify() -> Any:
    """The verification example of docs/operator.md, run exactly as printed there."""
    doc = (Path(__file__).parents[2] / "docs" / "operator.md").read_text()
    section = doc[doc.index(". Events to your CRM") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/operator.md", "exec"), namespace)  # noqa: S102 - our own doc
    return namespace["verify"]


def test_the_documented_verification_accepts_a_real_signed_body_and_refuses_tampering() -> None:
    verify = _doc_verify()
    raw = rules.body("e-2", "attempt.ended", T0, {"outcome": "human", "sip_code": 200})
    header = rules.sign(SECRET, raw, int(time.time()))

    assert verify(SECRET, raw, header)
    assert not verify(SECRET, raw + b" ", header)
    assert not verify("t" * 32, raw, header)
    assert not verify(SECRET, raw, rules.sign(SECRET, raw, int(time.time()) - 3600))
    assert not verify(SECRET, raw, "garbage")


def test_retries_double_from_two_seconds_with_jitter_up_to_ten_minutes() -> None:
    rng = random.Random(7)
    delays = [rules.after_failure(n, T0, T0, rng) for n in (1, 2, 3, 4, 12, 30)]
    seconds = [(d.at - T0).total_seconds() for d in delays if isinstance(d, rules.Retry)]

    assert len(seconds) == 6
    for got, scheduled in zip(seconds, (2, 4, 8, 16, 600, 600), strict=True):
        assert scheduled * 0.8 <= got <= min(scheduled * 1.2, 600)


def test_an_event_failing_for_24_hours_is_dead_and_no_retry_lands_past_the_window() -> None:
    rng = random.Random(1)
    almost = T0 + rules.DEAD_AFTER - timedelta(seconds=30)

    late = rules.after_failure(50, T0, almost, rng)
    assert isinstance(late, rules.Retry)
    assert late.at == T0 + rules.DEAD_AFTER
    assert isinstance(rules.after_failure(51, T0, T0 + rules.DEAD_AFTER, rng), rules.Dead)


def test_events_url_and_secret_come_together_and_the_secret_is_redacted() -> None:
    settings = load_settings(events_url="https://crm.example/h", events_secret=SECRET)

    assert settings.global_events == ("https://crm.example/h", SECRET)
    assert SECRET not in repr(settings)
    with pytest.raises(InvalidInput, match="EVENTS_URL and EVENTS_SECRET"):
        load_settings(events_url="https://crm.example/h")
    with pytest.raises(InvalidInput, match="EVENTS_URL"):
        load_settings(events_url="mailto:x", events_secret=SECRET)


def test_production_refuses_a_short_events_secret_and_a_plain_http_events_url() -> None:
    strong = "p" * 40
    with pytest.raises(InvalidInput) as caught:
        load_settings(
            environment="production",
            notify_secret=strong,
            savg_client_id="client",
            savg_client_secret=strong,
            notify_base_url="https://n.example",
            savg_base_url="https://s.example",
            api_keys=f"{strong}:operator",
            events_url="http://crm.example/h",
            events_secret="short",
        )
    message = str(caught.value)
    assert "EVENTS_SECRET: 5 bytes" in message
    assert "EVENTS_URL: must be an https:// URL" in message
